"""Core: what every layer may use, and nothing that knows about genes or tensors.

Owns the two exception types and their exit codes (:mod:`~mpsomics.core.errors`),
atomic writes (:mod:`~mpsomics.core.files`), the readers of the project's file
contracts (:mod:`~mpsomics.core.readers`, :mod:`~mpsomics.core.gmt`), classification
metrics (:mod:`~mpsomics.core.metrics`), empirical p-values and the
Benjamini–Hochberg adjustment (:mod:`~mpsomics.core.stats`), run provenance
(:mod:`~mpsomics.core.provenance`) and the workflow's config checks beyond the schema
(:mod:`~mpsomics.core.configcheck`).

May import: the standard library and third-party packages only -- no other
``mpsomics`` layer (checked by ``lint-imports``).
"""

"""The omics layer: from an expression matrix to gene communities and their meaning.

Owns ``prepare`` (reading, transforming, splitting and scaling expression data into
AnnData), the gene co-expression graph (:mod:`~mpsomics.omics.coexpression`),
hierarchical Leiden communities, the classical baselines, subcommunities from the
class states' correlations and magnetization, gene-set enrichment, per-sample scores
(:mod:`~mpsomics.omics.scores`) and GraphML networks (:mod:`~mpsomics.omics.graphs`).

May import: :mod:`mpsomics.dynamics`, :mod:`mpsomics.mps` and :mod:`mpsomics.core`;
never the report, experiments or commands layers.
"""

"""The report layer: figures (:mod:`~mpsomics.report.figures`), the HTML pages
(:mod:`~mpsomics.report.html`) and their jinja2 templates (``templates/``).

Reads result files only through the readers of the lower layers.

May import: :mod:`mpsomics.omics`, :mod:`mpsomics.dynamics`, :mod:`mpsomics.mps`
and :mod:`mpsomics.core`.
"""

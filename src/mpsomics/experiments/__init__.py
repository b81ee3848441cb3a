"""Experiments that are not the omics pipeline, each in its own package.

:mod:`~mpsomics.experiments.fashion_mnist` is the paper's Fashion-MNIST grokking
experiment. An experiment may import :mod:`mpsomics.report`,
:mod:`mpsomics.dynamics`, :mod:`mpsomics.mps` and :mod:`mpsomics.core`, but not the
omics layer: pixels are not genes.
"""

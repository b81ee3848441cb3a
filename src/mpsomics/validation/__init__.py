"""The validation layer: how far to trust a community or a subcommunity.

Owns repeated patient-grouped cross-validation of the MPS and the classical baselines
on identical folds (:mod:`~mpsomics.validation.crossval`), label-permutation and
random-gene-set nulls with empirical p-values and Benjamini–Hochberg adjustment
(:mod:`~mpsomics.validation.stats`), stability of subcommunities under bootstrap
resampling of patients (:mod:`~mpsomics.validation.stability`), independent cohorts
(:mod:`~mpsomics.validation.cohorts`), module preservation in the manner of WGCNA
(:mod:`~mpsomics.validation.preservation`) and applying a saved model to new samples
(:mod:`~mpsomics.validation.predict`).

May import: :mod:`mpsomics.omics`, :mod:`mpsomics.dynamics`, :mod:`mpsomics.ttn`,
:mod:`mpsomics.mps` and :mod:`mpsomics.core`; never the report, experiments or
commands layers.
"""

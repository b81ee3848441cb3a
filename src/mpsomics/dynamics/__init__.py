"""Training dynamics, shared by the HCC pipeline and the Fashion-MNIST experiment.

Owns the files one training run writes and their readers
(:mod:`~mpsomics.dynamics.training_run`: ``history.tsv`` and the per-epoch
entanglement, magnetization and correlation trajectories) and the analysis of
those trajectories (:mod:`~mpsomics.dynamics.grokking`: the entanglement
transition and the generalisation jump). Its API names runs, not communities.

May import: :mod:`mpsomics.mps` and :mod:`mpsomics.core`.
"""

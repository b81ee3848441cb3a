"""The Matrix Product State engine: sites and bonds, never genes or communities.

Owns the state and its file format (:mod:`~mpsomics.mps.state`), the feature map,
contraction, canonical forms, exact observables (natural-log entropies, σᶻ
magnetization and connected correlations of the normalised class states), the
two-site sweep and gradient trainers, checkpoints, the fit driver
(:class:`~mpsomics.mps.fit.Fit`) and many fits of one dataset per job
(:mod:`~mpsomics.mps.fits`), and the hand-over to quimb (:mod:`~mpsomics.mps.interop`,
quimb optional). Names of sites are called ``genes`` in the model file and
the trainers' arguments (any site names will do); a fit is named by ``name``.

May import: :mod:`mpsomics.core` only (checked by ``lint-imports``), and quimb lazily in
:mod:`~mpsomics.mps.interop`.
"""

from mpsomics.mps.feature_map import FEATURE_MAP_NAME, feature_map
from mpsomics.mps.state import MPSState, load_model, save_model

__all__ = ["FEATURE_MAP_NAME", "MPSState", "feature_map", "load_model", "save_model"]

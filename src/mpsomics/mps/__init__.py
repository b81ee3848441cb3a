"""Matrix Product State classifiers: model, training, exact observables."""

from mpsomics.mps.feature_map import FEATURE_MAP_NAME, feature_map
from mpsomics.mps.state import MPSState, load_model, save_model

__all__ = ["FEATURE_MAP_NAME", "MPSState", "feature_map", "load_model", "save_model"]

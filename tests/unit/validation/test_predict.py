"""Feature scaling policies and the prediction table of `mpsomics predict`."""

import numpy as np
import pandas as pd
import pytest

from mpsomics.core.errors import InputError
from mpsomics.validation.predict import features


def test_feature_policies():
    values = pd.DataFrame({"A": [1.0, 3.0, 2.0], "B": [0.0, 10.0, 5.0]})
    np.testing.assert_allclose(features(values, ["B", "A"], "cohort"), [[0, 0], [1, 1], [0.5, 0.5]])
    var = pd.DataFrame({"scale_min": [0.0, 2.0], "scale_max": [4.0, 3.0]}, index=["A", "B"])
    np.testing.assert_allclose(features(values, ["A", "B"], "train", var), [[0.25, 0], [0.75, 1], [0.5, 1]])
    with pytest.raises(InputError, match="missing"):
        features(values, ["A", "C"], "cohort")
    with pytest.raises(InputError, match="--reference"):
        features(values, ["A"], "train")

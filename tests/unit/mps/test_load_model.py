"""``mps.state.load_model`` is the one reader of model.npz: malformed fields are InputErrors."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.dense import random_state

from mpsomics.core.errors import InputError
from mpsomics.mps.state import load_model, save_model


def _arrays(tmp_path):
    path = tmp_path / "model.npz"
    save_model(random_state(4, 3), path)
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("label_site", np.array([1, 2]), "label_site"),
        ("label_site", np.array(0.6), "label_site"),
        ("label_site", np.array("1"), "label_site"),
        ("genes", np.array("g0"), "genes"),
        ("classes", np.array([[0, 1]]), "classes"),
        ("site_0", np.array([[["a", "b"]]]), "site_0"),
        ("classes", np.array(["a/b", "c"]), "file name"),
        ("classes", np.array(["a", "a"]), "not unique"),
        ("feature_map", np.array(["x"]), "feature_map"),
    ],
)
def test_malformed_fields_name_the_file(tmp_path, field, value, message):
    arrays = _arrays(tmp_path)
    arrays[field] = value
    bad = tmp_path / "bad.npz"
    with open(bad, "wb") as fh:
        np.savez(fh, **arrays)
    with pytest.raises(InputError) as exc:
        load_model(bad)
    assert str(bad) in str(exc.value) and message in str(exc.value)


def test_not_a_zip_and_missing(tmp_path):
    text = tmp_path / "model.npz"
    text.write_text("hello\n")
    with pytest.raises(InputError, match="not an .npz"):
        load_model(text)
    with pytest.raises(InputError, match="model .npz file not found"):
        load_model(tmp_path / "nope.npz")
    with pytest.raises(InputError, match="is a directory, expected a model .npz"):
        load_model(tmp_path)

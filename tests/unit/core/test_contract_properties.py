"""Property-based tests (hypothesis) of the file-contract readers of later stages.

* ``model.npz`` (:func:`mpsomics.mps.state.load_model`) and the TTN format
  (:func:`mpsomics.ttn.state.load_ttn`): any valid state round-trips exactly; any
  corruption of one field (wrong dtype, shape, NaN, fractional ``label_site``, a
  missing key, truncated bytes) is an :class:`InputError` naming the file, or loads a
  state that passes :meth:`validate` -- never another exception;
* ``history.tsv`` (:func:`mpsomics.dynamics.training_run.load_history`): a valid file
  round-trips; a file cut at any byte is an :class:`InputError` unless the cut falls on
  a line end (then it reads the complete rows before it); junk never raises anything else;
* grokking TSV (:func:`mpsomics.dynamics.grokking.load_grokking`): integer epochs
  round-trip; anything but an integer or an empty cell in an epoch column is an
  :class:`InputError` naming the column and the file;
* :func:`mpsomics.dynamics.training_run.check_same_run`: shifted epochs are refused.
"""

from __future__ import annotations

import io
import logging
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mpsomics.core.errors import InputError
from mpsomics.dynamics import grokking, training_run
from mpsomics.mps.state import MPSState, load_model, save_model
from mpsomics.ttn.state import TTNState, bond_dims, load_ttn, save_ttn

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(autouse=True)
def _quiet():
    logging.getLogger("mpsomics").setLevel(logging.ERROR)
    yield
    logging.getLogger("mpsomics").setLevel(logging.NOTSET)


def _tmpdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="mpsomics-contract-"))


# ------------------------------------------------------------------------------ states

@st.composite
def mps_states(draw) -> MPSState:
    n = draw(st.integers(1, 5))
    n_classes = draw(st.integers(1, 3))
    label_site = draw(st.integers(0, n - 1))
    bonds = [1] + [draw(st.integers(1, 3)) for _ in range(n - 1)] + [1]
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    sites = []
    for i in range(n):
        shape = (bonds[i], 2, n_classes, bonds[i + 1]) if i == label_site else (bonds[i], 2, bonds[i + 1])
        sites.append(rng.standard_normal(shape))
    names = st.text(st.characters(codec="utf-8", exclude_characters="/\\\x00"), min_size=1, max_size=6)
    classes = draw(st.lists(names.filter(lambda c: c not in {".", ".."}), min_size=n_classes,
                            max_size=n_classes, unique=True))
    genes = draw(st.lists(names, min_size=n, max_size=n))
    return MPSState(sites=sites, label_site=label_site, genes=genes, classes=classes)


def _arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def _savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


#: replacement values for one field of a model file: wrong dtype, shape, non-finite, fractional
BAD_VALUES = st.sampled_from([
    np.array(0.6), np.array(np.nan), np.array(np.inf), np.array([0, 1]), np.array([[0]]),
    np.array("0"), np.array(["a", "b"]), np.array("g"), np.array(True), np.array(1 + 2j),
    np.array([[[np.nan, 1.0]]]), np.array([[["a", "b"]]]), np.zeros((1, 2, 1), dtype=np.complex128),
    np.zeros((1, 2, 1), dtype=np.int64), np.zeros((0,)), np.array(-1), np.array(10**6),
    np.array(b"bytes"), np.zeros((1, 3, 1)), np.full((1, 2, 1), np.inf),
])


@SETTINGS
@given(state=mps_states())
def test_mps_model_round_trips(state):
    path = _tmpdir() / "model.npz"
    save_model(state, path)
    back = load_model(path)
    assert back.label_site == state.label_site and isinstance(back.label_site, int)
    assert back.genes == state.genes and back.classes == state.classes
    for a, b in zip(back.sites, state.sites, strict=True):
        np.testing.assert_array_equal(a, b)


@SETTINGS
@given(state=mps_states(), data=st.data())
def test_mps_model_corruption_is_an_input_error(state, data):
    d = _tmpdir()
    good = d / "model.npz"
    save_model(state, good)
    arrays = _arrays(good)
    key = data.draw(st.sampled_from(sorted(arrays)))
    action = data.draw(st.sampled_from(["replace", "drop"]))
    if action == "drop":
        arrays.pop(key)
    else:
        arrays[key] = data.draw(BAD_VALUES)
    bad = d / "bad.npz"
    _savez(bad, arrays)
    try:
        back = load_model(bad)
    except InputError as exc:
        assert str(bad) in str(exc)
        return
    back.validate()  # accepted only when it is a valid model


@SETTINGS
@given(state=mps_states(), data=st.data())
def test_mps_model_bytes_cut_or_flipped_is_an_input_error(state, data):
    d = _tmpdir()
    good = d / "model.npz"
    save_model(state, good)
    raw = bytearray(good.read_bytes())
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    else:
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] ^= data.draw(st.integers(1, 255))
    bad = d / "bad.npz"
    bad.write_bytes(bytes(raw))
    try:
        back = load_model(bad)
    except InputError as exc:
        assert str(bad) in str(exc)
        return
    back.validate()


@pytest.mark.parametrize(
    "value, needle",
    [
        (np.array([1, 2]), "label_site"), (np.array(0.6), "label_site"), (np.array(np.nan), "label_site"),
        (np.array(np.inf), "label_site"), (np.array("1"), "label_site"), (np.array(True), "label_site"),
    ],
)
def test_label_site_must_be_an_integer(tmp_path, value, needle):
    path = tmp_path / "model.npz"
    save_model(MPSState(sites=[np.ones((1, 2, 2, 1))], label_site=0, genes=["g"], classes=["a", "b"]), path)
    arrays = _arrays(path)
    arrays["label_site"] = value
    _savez(path, arrays)
    with pytest.raises(InputError, match=needle) as exc:
        load_model(path)
    assert str(path) in str(exc.value)


def test_integer_valued_float_label_site_is_read_as_int(tmp_path):
    path = tmp_path / "model.npz"
    save_model(MPSState(sites=[np.ones((1, 2, 2, 1))], label_site=0, genes=["g"], classes=["a", "b"]), path)
    arrays = _arrays(path)
    arrays["label_site"] = np.array(0.0)
    _savez(path, arrays)
    assert load_model(path).label_site == 0


@pytest.mark.parametrize(
    "key, value, needle",
    [
        ("site_0", np.ones((1, 2, 2, 1), dtype=np.complex128), "real floating"),
        ("site_0", np.ones((1, 2, 2, 1), dtype=np.int64), "floating"),
        ("site_0", np.array([[["a", "b"]]]), "floating"),
        ("site_0", np.full((1, 2, 2, 1), np.nan), "NaN or inf"),
        ("genes", np.array("g"), "genes"),
        ("genes", np.array([[b"g"]]), "genes"),
        ("classes", np.array([1, 2]), "classes"),
    ],
)
def test_model_fields_dtype_and_shape(tmp_path, key, value, needle):
    path = tmp_path / "model.npz"
    save_model(MPSState(sites=[np.ones((1, 2, 2, 1))], label_site=0, genes=["g"], classes=["a", "b"]), path)
    arrays = _arrays(path)
    arrays[key] = value
    _savez(path, arrays)
    with pytest.raises(InputError, match=needle):
        load_model(path)


# --------------------------------------------------------------------------------- TTN

def _caterpillar(n: int) -> np.ndarray:
    parent = np.full(2 * n - 1, -1, dtype=np.int64)
    parent[0] = parent[1] = n
    for k in range(2, n):
        parent[n + k - 2] = parent[k] = n + k - 1
    return parent


@st.composite
def ttn_states(draw) -> TTNState:
    n = draw(st.integers(2, 5))
    n_classes = draw(st.integers(1, 3))
    parent = _caterpillar(n)
    dims = list(bond_dims(parent, draw(st.integers(1, 3)))) + [n_classes]
    kids = [sorted(np.flatnonzero(parent == n + k)) for k in range(n - 1)]
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    tensors = [rng.normal(size=(dims[a], dims[b], dims[n + k])) for k, (a, b) in enumerate(kids)]
    return TTNState(parent=parent, tensors=tensors, genes=[f"g{i}" for i in range(n)],
                    classes=[f"c{k}" for k in range(n_classes)])


@SETTINGS
@given(state=ttn_states(), data=st.data())
def test_ttn_round_trip_and_corruption(state, data):
    d = _tmpdir()
    good = d / "model.npz"
    save_ttn(state, good)
    back = load_ttn(good)
    assert back.genes == state.genes and back.classes == state.classes
    for a, b in zip(back.tensors, state.tensors, strict=True):
        np.testing.assert_array_equal(a, b)
    arrays = _arrays(good)
    key = data.draw(st.sampled_from(sorted(arrays)))
    arrays[key] = data.draw(BAD_VALUES)
    bad = d / "bad.npz"
    _savez(bad, arrays)
    try:
        back = load_ttn(bad)
    except InputError as exc:
        assert str(bad) in str(exc)
        return
    back.validate()


@pytest.mark.parametrize(
    "key, value, needle",
    [
        ("genes", np.array("g"), "genes"), ("classes", np.array(1), "classes"),
        ("label_node", np.array(2.5), "label_node"), ("label_node", np.array([2]), "label_node"),
        ("feature_map", np.array(["cos_sin_half_pi"]), "feature_map"),
        ("node_2", np.full((2, 2, 2), np.nan), "NaN or inf"),
    ],
)
def test_ttn_fields(tmp_path, key, value, needle):
    path = tmp_path / "model.npz"
    parent = _caterpillar(2)
    save_ttn(TTNState(parent=parent, tensors=[np.ones((2, 2, 2))], genes=["a", "b"], classes=["x", "y"]), path)
    arrays = _arrays(path)
    arrays[key] = value
    _savez(path, arrays)
    with pytest.raises(InputError, match=needle) as exc:
        load_ttn(path)
    assert str(path) in str(exc.value)


# ---------------------------------------------------------------------------- history.tsv

@st.composite
def histories(draw) -> pd.DataFrame:
    n = draw(st.integers(1, 12))
    acc = st.floats(0, 1, allow_nan=False)
    return pd.DataFrame({
        "epoch": np.arange(n, dtype=np.int64),
        "loss": draw(st.lists(st.floats(0, 1e3, allow_nan=False), min_size=n, max_size=n)),
        "train_balanced_accuracy": draw(st.lists(acc, min_size=n, max_size=n)),
        "test_balanced_accuracy": draw(st.lists(acc, min_size=n, max_size=n)),
        "max_bond": draw(st.lists(st.integers(1, 64), min_size=n, max_size=n)),
    })


def _history_text(h: pd.DataFrame) -> str:
    buf = io.StringIO()
    h.to_csv(buf, sep="\t", index=False, na_rep="NaN")
    return buf.getvalue()


@SETTINGS
@given(h=histories())
def test_history_round_trips(h):
    path = _tmpdir() / "history.tsv"
    path.write_text(_history_text(h))
    back = training_run.load_history(path)
    assert back["epoch"].tolist() == h["epoch"].tolist()
    for col in ("loss", "train_balanced_accuracy", "test_balanced_accuracy"):
        np.testing.assert_allclose(back[col].to_numpy(float), h[col].to_numpy(float), rtol=1e-12)  # pandas parser


@SETTINGS
@given(h=histories(), data=st.data())
def test_history_cut_anywhere_is_an_error_unless_at_a_line_end(h, data):
    text = _history_text(h)
    cut = data.draw(st.integers(1, len(text) - 1))
    path = _tmpdir() / "history.tsv"
    path.write_text(text[:cut])
    lines = text[:cut].split("\n")
    complete = text[:cut].endswith("\n")
    try:
        back = training_run.load_history(path)
    except InputError as exc:
        assert str(path) in str(exc)
        assert not complete or len(lines) <= 2  # a complete file is refused only when it has no data row
        return
    assert complete, "a file cut mid-row was accepted"
    assert back["epoch"].tolist() == list(range(len(lines) - 2))


JUNK = st.text(st.sampled_from(list("\t\n\r\"' 0123456789.-eEinfaNnepoch_")), max_size=200)


@SETTINGS
@given(body=JUNK)
def test_history_junk_is_only_ever_an_input_error(body):
    path = _tmpdir() / "history.tsv"
    path.write_text("epoch\tloss\ttest_balanced_accuracy\n" + body)
    try:
        training_run.load_history(path)
    except InputError as exc:
        assert str(path) in str(exc)


def test_ragged_last_row_with_quotes_is_an_error(tmp_path):
    path = tmp_path / "history.tsv"
    path.write_text('epoch\tloss\tnote\n0\t1.0\t"a"\n1\t0.5\n')
    with pytest.raises(InputError, match="line 3 has 2 fields but the header has 3"):
        training_run.load_history(path)


# ---------------------------------------------------------------------------- grokking TSV

EPOCH_COLUMNS = ("transition_epoch", "jump_epoch", "max_rate_epoch", "lag", "n_jumps")


@SETTINGS
@given(values=st.lists(st.one_of(st.none(), st.integers(-10**6, 10**6)), min_size=5, max_size=5))
def test_grokking_integer_columns_round_trip(values):
    path = _tmpdir() / "c01.tsv"
    row = {"community": "c01", **dict(zip(EPOCH_COLUMNS, values, strict=True)), "grokking": True}
    row = {k: (float("nan") if v is None else v) for k, v in row.items()}
    grokking.write_tsv(grokking.result_frame(row), path)
    back = grokking.load_grokking(path)
    for col, v in zip(EPOCH_COLUMNS, values, strict=True):
        assert back[col] == v and (v is None or type(back[col]) is int)


BAD_CELLS = st.one_of(
    st.sampled_from(["inf", "-inf", "Infinity", "3.7", "1e400", "x", "0.5", "1,5", "--1"]),
    st.floats(allow_nan=False).filter(lambda x: not float(x).is_integer()).map(repr),
)


@SETTINGS
@given(col=st.sampled_from(EPOCH_COLUMNS), cell=BAD_CELLS)
def test_grokking_bad_epoch_cell_names_the_column_and_file(col, cell):
    path = _tmpdir() / "c01.tsv"
    header = ["community", *EPOCH_COLUMNS]
    values = ["c01"] + ["1"] * len(EPOCH_COLUMNS)
    values[header.index(col)] = cell
    path.write_text("\t".join(header) + "\n" + "\t".join(values) + "\n")
    with pytest.raises(InputError) as exc:
        grokking.load_grokking(path)
    assert str(path) in str(exc.value) and repr(col) in str(exc.value)


# ------------------------------------------------------------------------ one run's epochs

@SETTINGS
@given(n=st.integers(2, 40), every=st.integers(1, 5), shift=st.integers(1, 200))
def test_check_same_run_refuses_shifted_epochs(n, every, shift):
    hist = pd.DataFrame({"epoch": np.arange(n)})
    observed = np.unique(np.r_[np.arange(0, n, every), n - 1])
    ent = pd.DataFrame({"epoch": observed})
    training_run.check_same_run(history=("h.tsv", hist), entanglement=("e.tsv", ent),
                                magnetization=("m.tsv", ent), correlations=("c.npz", observed))
    assume(np.setdiff1d(observed + shift, hist["epoch"]).size)  # the shift leaves the history
    with pytest.raises(InputError, match="h.tsv") as exc:
        training_run.check_same_run(history=("h.tsv", hist), entanglement=("e.tsv", ent + shift))
    assert str(exc.value).startswith("e.tsv")
    with pytest.raises(InputError, match="e.tsv") as exc:
        training_run.check_same_run(entanglement=("e.tsv", ent), magnetization=("m.tsv", ent + shift))
    assert str(exc.value).startswith("m.tsv")

"""Property-based tests (hypothesis) of the remaining file-contract readers.

Each reader: any valid file round-trips; any corruption (bytes cut anywhere, junk) is an
:class:`InputError` naming the file -- never another exception.

* ``correlations_trajectory.npz`` (:func:`mpsomics.dynamics.training_run.load_correlations`);
* ``entanglement_trajectory.tsv`` / ``magnetization_trajectory.tsv``
  (:func:`~mpsomics.dynamics.training_run.load_entanglement`, ``load_magnetization``);
* GMT libraries (:func:`mpsomics.core.gmt.read_gmt`);
* subcommunity tables (:func:`mpsomics.core.readers.read_subcommunities`);
* IDX files of the Fashion-MNIST experiment (:func:`mpsomics.experiments.fashion_mnist.data.read_idx`);
* prepared AnnData (:func:`mpsomics.core.readers.read_prepared`): junk and cut files.
"""

from __future__ import annotations

import gzip
import logging
import struct
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mpsomics.core.errors import InputError
from mpsomics.core.gmt import read_gmt
from mpsomics.core.readers import read_prepared, read_subcommunities
from mpsomics.dynamics import training_run
from mpsomics.experiments.fashion_mnist.data import read_idx

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
NAMES = st.text(st.characters(codec="utf-8", categories=("L", "N"), max_codepoint=0x2FF), min_size=1, max_size=6)


@pytest.fixture(autouse=True)
def _quiet():
    logging.getLogger("mpsomics").setLevel(logging.ERROR)
    yield
    logging.getLogger("mpsomics").setLevel(logging.NOTSET)


def _tmp(name: str) -> Path:
    return Path(tempfile.mkdtemp(prefix="mpsomics-contract-")) / name


def _only_input_error(read, path: Path) -> None:
    """``read(path)`` either succeeds or raises an InputError naming ``path``."""
    try:
        read(path)
    except InputError as exc:
        assert str(path) in str(exc)


# ------------------------------------------------------------------- correlations npz

@st.composite
def correlations(draw):
    n_epochs, n_classes, n = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(2, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    a = rng.uniform(-0.5, 0.5, size=(n_epochs, n_classes, n, n))
    connected = (a + np.swapaxes(a, -1, -2)) / 2
    epochs = np.array(sorted(draw(st.sets(st.integers(0, 500), min_size=n_epochs, max_size=n_epochs))))
    classes = np.array(draw(st.lists(NAMES, min_size=n_classes, max_size=n_classes, unique=True)))
    genes = np.array(draw(st.lists(NAMES, min_size=n, max_size=n, unique=True)))
    return epochs, classes, genes, connected


def _write_npz(path: Path, epochs, classes, genes, connected) -> Path:
    with open(path, "wb") as fh:
        np.savez(fh, epochs=epochs, classes=classes, genes=genes, connected=connected)
    return path


@SETTINGS
@given(c=correlations())
def test_correlations_round_trip(c):
    path = _write_npz(_tmp(training_run.CORRELATIONS_FILE), *c)
    epochs, classes, genes, connected = training_run.load_correlations(path)
    np.testing.assert_array_equal(epochs, c[0])
    assert classes == list(c[1]) and genes == list(c[2])
    np.testing.assert_array_equal(connected, c[3])


@SETTINGS
@given(c=correlations(), data=st.data())
def test_correlations_cut_or_edited_is_only_an_input_error(c, data):
    path = _write_npz(_tmp(training_run.CORRELATIONS_FILE), *c)
    raw = path.read_bytes()
    damage = data.draw(st.sampled_from(["cut", "flip", "edit"]))
    if damage == "cut":
        path.write_bytes(raw[: data.draw(st.integers(0, len(raw) - 1))])
        with pytest.raises(InputError, match=str(path)):
            training_run.load_correlations(path)
        return
    if damage == "flip":  # zip headers too: zipfile raises NotImplementedError for some bytes
        flipped = bytearray(raw)
        for _ in range(data.draw(st.integers(1, 6))):
            flipped[data.draw(st.integers(0, len(raw) - 1))] ^= data.draw(st.integers(1, 255))
        path.write_bytes(bytes(flipped))
        _only_input_error(training_run.load_correlations, path)
        return
    epochs, classes, genes, connected = c
    edit = data.draw(st.sampled_from(["nan", "asym", "big", "shape", "epochs", "dup_gene"]))
    if edit == "nan":
        connected = connected.copy()
        connected[0, 0, 0, 1] = np.nan
    elif edit == "asym":
        connected = connected.copy()
        connected[0, 0, 0, 1] += 0.4
    elif edit == "big":
        connected = connected * 5 + np.sign(connected) * 1.5
    elif edit == "shape":
        connected = connected[:, :, :-1]
    elif edit == "epochs":
        epochs = epochs + 0.5
    else:
        genes = np.array([genes[0]] * len(genes))
    _write_npz(path, epochs, classes, genes, connected)
    with pytest.raises(InputError, match=str(path)):
        training_run.load_correlations(path)


# -------------------------------------------------------------- trajectory tables

@st.composite
def trajectories(draw):
    epochs = sorted(draw(st.sets(st.integers(0, 300), min_size=1, max_size=4)))
    labels = draw(st.lists(NAMES, min_size=1, max_size=2, unique=True))
    n = draw(st.integers(2, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    ent = pd.DataFrame([(e, lab, b, float(rng.uniform(0, 2))) for e in epochs for lab in labels
                        for b in range(n - 1)], columns=["epoch", "label", "bond", "entropy"])
    mag = pd.DataFrame([(e, lab, s, f"G{s}", float(rng.uniform(-1, 1))) for e in epochs for lab in labels
                        for s in range(n)], columns=["epoch", "label", "site", "gene", "magnetization"])
    return ent, mag


@SETTINGS
@given(t=trajectories(), data=st.data())
def test_trajectory_tables_round_trip_and_cuts_are_input_errors(t, data):
    ent, mag = t
    for frame, name, load in ((ent, training_run.ENTANGLEMENT_FILE, training_run.load_entanglement),
                              (mag, training_run.MAGNETIZATION_FILE, training_run.load_magnetization)):
        path = _tmp(name)
        frame.to_csv(path, sep="\t", index=False, float_format="%.17g")
        back = load(path)
        pd.testing.assert_frame_equal(back.reset_index(drop=True),
                                      frame.sort_values(["epoch", frame.columns[2]], kind="stable")
                                      .reset_index(drop=True), check_dtype=False)
        raw = path.read_bytes()
        cut = data.draw(st.integers(1, len(raw) - 1))
        path.write_bytes(raw[:cut])
        _only_input_error(load, path)
        if not raw[:cut].endswith(b"\n"):  # a row cut in two is never read as a shorter row
            with pytest.raises(InputError):
                load(path)


# --------------------------------------------------------------------------------- GMT

@SETTINGS
@given(sets=st.dictionaries(NAMES, st.lists(NAMES, min_size=1, max_size=6, unique=True), min_size=1, max_size=5),
       bom=st.booleans(), crlf=st.booleans())
def test_gmt_round_trips_in_any_utf8_form(sets, bom, crlf):
    eol = "\r\n" if crlf else "\n"
    text = eol.join(f"{term}\tdescription\t" + "\t".join(genes) for term, genes in sets.items()) + eol
    path = _tmp("lib.gmt")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    lib = read_gmt(path, use_cache=False)
    assert {k: list(v) for k, v in lib.sets.items()} == sets


@SETTINGS
@given(body=st.binary(max_size=300))
def test_gmt_junk_is_only_an_input_error(body):
    path = _tmp("junk.gmt")
    path.write_bytes(body)
    _only_input_error(lambda p: read_gmt(p, use_cache=False), path)


# ------------------------------------------------------------------- subcommunities

@SETTINGS
@given(rows=st.lists(st.tuples(NAMES, st.sampled_from(["c01.s1", "c01.s2"]), st.sampled_from(["paper", "graph"])),
                     max_size=8, unique_by=lambda r: (r[0], r[1])), data=st.data())
def test_subcommunity_tables_round_trip_and_cuts(rows, data):
    frame = pd.DataFrame(rows, columns=["gene", "subcommunity", "method"])
    path = _tmp("c01.tsv")
    frame.to_csv(path, sep="\t", index=False)
    back = read_subcommunities(path)
    pd.testing.assert_frame_equal(back[["gene", "subcommunity", "method"]].reset_index(drop=True), frame,
                                  check_dtype=False, check_index_type=False)
    raw = path.read_bytes()
    path.write_bytes(raw[: data.draw(st.integers(0, len(raw) - 1))])
    _only_input_error(read_subcommunities, path)


# ------------------------------------------------------------------------------ IDX

def _idx(array: np.ndarray) -> bytes:
    header = b"\x00\x00\x08" + bytes([array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


@SETTINGS
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=3), seed=st.integers(0, 2**16),
       gz=st.booleans(), data=st.data())
def test_idx_round_trip_and_cuts(shape, seed, gz, data):
    array = np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)
    raw = _idx(array)
    raw = gzip.compress(raw) if gz else raw
    path = _tmp("images.idx.gz" if gz else "images.idx")
    path.write_bytes(raw)
    np.testing.assert_array_equal(read_idx(path), array)
    path.write_bytes(raw[: data.draw(st.integers(0, len(raw) - 1))])
    with pytest.raises(InputError, match=str(path)):
        read_idx(path)


# ------------------------------------------------------------------ prepared AnnData

@pytest.fixture(scope="module")
def prepared_bytes(tmp_path_factory) -> bytes:
    import anndata as ad

    rng = np.random.default_rng(0)
    obs = pd.DataFrame({"label": ["normal", "tumor"] * 4, "group": [f"p{i}" for i in range(8)],
                        "split": ["train"] * 6 + ["test"] * 2}, index=[f"s{i}" for i in range(8)])
    a = ad.AnnData(rng.random((8, 3)), obs=obs, var=pd.DataFrame(index=["A", "B", "C"]))
    a.uns["classes"], a.uns["positive_label"] = ["normal", "tumor"], "tumor"
    a.layers["log"] = 10 * a.X
    path = tmp_path_factory.mktemp("prepared") / "expression.h5ad"
    a.write_h5ad(path)
    read_prepared(path)  # the reference file is valid
    return path.read_bytes()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_prepared_anndata_cut_or_flipped_is_only_an_input_error(prepared_bytes, data):
    raw = bytearray(prepared_bytes)
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    else:
        for _ in range(data.draw(st.integers(1, 8))):
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] ^= data.draw(st.integers(1, 255))
    path = _tmp("expression.h5ad")
    path.write_bytes(bytes(raw))
    _only_input_error(read_prepared, path)

"""Property-based tests (hypothesis) of the parsers, the min-max scaling and the split.

* parsers: any finite float matrix with arbitrary valid gene / sample names,
  written as TSV or CSV, plain or gzipped, in either orientation, reads back
  equal (names exactly, values to the float parser's precision, 1e-12 relative); arbitrary junk (random bytes, or text made of delimiters, quotes, line
  breaks and numbers) never raises anything but :class:`InputError`;
* scaling: train-fitted per-gene min-max puts train values in [0, 1] with per-gene
  minimum exactly 0 and maximum exactly 1, clips test values, and the fitted
  parameters do not depend on the test values;
* split: no patient on both sides, every class on both sides when that is easy,
  deterministic for a seed.
"""

from __future__ import annotations

import gzip
import logging
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mpsomics.core.errors import InputError
from mpsomics.core.gmt import read_gmt
from mpsomics.core.readers import NA_VALUES, excel_symbol_repair, read_table
from mpsomics.omics.prepare import (
    grouped_split,
    minmax_fit_transform,
    read_expression,
    read_sample_sheet,
)

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(autouse=True)
def _quiet_readers():
    # The readers log every repair; thousands of examples would flood the output.
    logging.getLogger("mpsomics").setLevel(logging.ERROR)
    yield
    logging.getLogger("mpsomics").setLevel(logging.NOTSET)


def _tmpfile(name: str, data: bytes) -> Path:
    d = Path(tempfile.mkdtemp(prefix="mpsomics-prop-"))
    p = d / name
    p.write_bytes(data)
    return p


# ------------------------------------------------------------------------------ parsers

_NAME_CHARS = st.characters(
    categories=["L", "N"], include_characters="._-+:|/()[]#@ ", exclude_characters="\t,;\"'\r\n"
)


def _valid_name(s: str) -> bool:
    return bool(s) and s == s.strip() and excel_symbol_repair(s) is None


names = st.text(_NAME_CHARS, min_size=1, max_size=12).map(str.strip).filter(_valid_name)


@st.composite
def matrices(draw):
    n_genes = draw(st.integers(1, 6))
    n_samples = draw(st.integers(1, 6))
    genes = draw(st.lists(names, min_size=n_genes, max_size=n_genes, unique=True))
    samples = draw(st.lists(names, min_size=n_samples, max_size=n_samples, unique=True))
    values = draw(
        hnp.arrays(
            np.float64,
            (n_genes, n_samples),
            elements=st.floats(allow_nan=False, allow_infinity=False, width=64),
        )
    )
    return genes, samples, values


def _write_table(header: list[str], rows: list[list[str]], sep: str) -> bytes:
    return "".join(sep.join(r) + "\n" for r in [header, *rows]).encode()


@SETTINGS
@given(
    matrices(),
    st.sampled_from(["\t", ","]),
    st.booleans(),
    st.sampled_from(["genes-x-samples", "samples-x-genes"]),
    st.sampled_from(["gene", "", "id"]),
)
def test_finite_matrix_round_trips(mat, sep, gz, orientation, corner):
    genes, samples, x = mat
    if orientation == "genes-x-samples":
        header = [corner, *samples]
        rows = [[g, *map(repr, row)] for g, row in zip(genes, x.tolist(), strict=True)]
    else:
        header = [corner, *genes]
        rows = [[s, *map(repr, col)] for s, col in zip(samples, x.T.tolist(), strict=True)]
    # An empty corner cell is fine (R write.table without row-name header); a file of
    # one column would be a different, invalid, table.
    assume(len(header) > 1)
    data = _write_table(header, rows, sep)
    name = ("expr.tsv" if sep == "\t" else "expr.csv") + (".gz" if gz else "")
    path = _tmpfile(name, gzip.compress(data) if gz else data)
    df = read_expression(path, orientation=orientation)
    assert list(df.index) == samples
    assert list(df.columns) == genes
    got = df.to_numpy()
    assert got.dtype == np.float64 and got.shape == (len(samples), len(genes))
    # pandas' default C float parser is within a few ULP of the correctly rounded
    # value (round_trip parsing would be exact but ~3x slower on large matrices)
    np.testing.assert_allclose(got, x.T, rtol=1e-12, atol=0)


@SETTINGS
@given(matrices(), st.sampled_from(["\t", ","]))
def test_na_spellings_read_as_nan(mat, sep):
    genes, samples, x = mat
    spellings = list(NA_VALUES)
    rows = [
        [
            g,
            *(
                spellings[(i + j) % len(spellings)] if (i + j) % 3 == 0 else repr(v)
                for j, v in enumerate(row)
            ),
        ]
        for i, (g, row) in enumerate(zip(genes, x.tolist(), strict=True))
    ]
    path = _tmpfile("expr.tsv", _write_table(["gene", *samples], rows, sep))
    df = read_expression(path)
    expect = np.array(
        [
            [np.nan if (i + j) % 3 == 0 else v for j, v in enumerate(row)]
            for i, row in enumerate(x.tolist())
        ]
    )
    np.testing.assert_allclose(df.to_numpy(), expect.T, rtol=1e-12, atol=0)


def _must_only_raise_input_error(fn, *args, **kwargs) -> None:
    try:
        fn(*args, **kwargs)
    except InputError as exc:
        assert "\n" not in str(exc)


junk_text = st.lists(
    st.sampled_from(list('\t,;\n\r" ab1.-#\ufeffNAinf\u00e9') + ["NA", "1e5", "1-Mar", "\r\n"]),
    max_size=150,
).map("".join)


@SETTINGS
@given(
    st.one_of(st.binary(max_size=600), junk_text.map(lambda s: s.encode("utf-8"))),
    st.sampled_from(["x.tsv", "x.csv", "x.tsv.gz", "x.txt"]),
    st.booleans(),
)
def test_junk_never_raises_anything_but_input_error(data, name, gz):
    path = _tmpfile(name, gzip.compress(data) if gz else data)
    _must_only_raise_input_error(read_table, path)
    _must_only_raise_input_error(read_table, path, numeric_except=0)
    _must_only_raise_input_error(read_expression, path)
    _must_only_raise_input_error(read_expression, path, orientation="samples-x-genes")
    _must_only_raise_input_error(
        read_sample_sheet, path, sample_col="a", label_col="b", group_col="none"
    )
    _must_only_raise_input_error(read_gmt, path, use_cache=False)


@SETTINGS
@given(st.binary(min_size=1, max_size=400), st.integers(1, 399))
def test_truncated_gzip_of_anything_is_an_input_error(data, cut):
    blob = gzip.compress(data)
    path = _tmpfile("x.tsv.gz", blob[: min(cut, len(blob) - 1)])
    with pytest.raises(InputError, match="truncated or corrupt gzip|file is empty"):
        read_table(path)


# ------------------------------------------------------------------------------ scaling

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@st.composite
def train_test(draw):
    n_genes = draw(st.integers(1, 5))
    n_train = draw(st.integers(2, 8))
    n_test = draw(st.integers(0, 6))
    x_train = draw(hnp.arrays(np.float64, (n_train, n_genes), elements=finite))
    assume(np.all(x_train.max(0) > x_train.min(0)))
    x_test = draw(hnp.arrays(np.float64, (n_test, n_genes), elements=finite))
    other_test = draw(hnp.arrays(np.float64, (n_test, n_genes), elements=finite))
    order = draw(st.permutations(range(n_train + n_test)))
    return x_train, x_test, other_test, np.array(order)


def _assemble(x_train, x_test, order):
    x = np.vstack([x_train, x_test])[np.argsort(order)]
    train = (np.arange(len(order)) < len(x_train))[np.argsort(order)]
    return x, train


@SETTINGS
@given(train_test())
def test_minmax_train_exact_test_clipped(tt):
    x_train, x_test, _, order = tt
    x, train = _assemble(x_train, x_test, order)
    scaled, mins, maxs = minmax_fit_transform(x, train)
    np.testing.assert_array_equal(mins, x_train.min(0))
    np.testing.assert_array_equal(maxs, x_train.max(0))
    assert ((scaled >= 0) & (scaled <= 1)).all()
    np.testing.assert_array_equal(scaled[train].min(0), 0.0)
    np.testing.assert_array_equal(scaled[train].max(0), 1.0)
    # test values below the train minimum / above the train maximum are clipped
    np.testing.assert_array_equal(scaled[~train][x[~train] <= mins], 0.0)
    np.testing.assert_array_equal(scaled[~train][x[~train] >= maxs], 1.0)
    # monotone per gene
    for g in range(x.shape[1]):
        o = np.argsort(x[:, g], kind="stable")
        assert np.all(np.diff(scaled[o, g]) >= 0)


@SETTINGS
@given(train_test())
def test_minmax_fit_ignores_test_values(tt):
    x_train, x_test, other_test, order = tt
    x1, train = _assemble(x_train, x_test, order)
    x2, _ = _assemble(x_train, other_test, order)
    s1, min1, max1 = minmax_fit_transform(x1, train)
    s2, min2, max2 = minmax_fit_transform(x2, train)
    np.testing.assert_array_equal(min1, min2)
    np.testing.assert_array_equal(max1, max2)
    np.testing.assert_array_equal(s1[train], s2[train])


# -------------------------------------------------------------------------------- split


@st.composite
def labelled_groups(draw):
    n_classes = draw(st.integers(2, 3))
    classes = draw(st.lists(names, min_size=n_classes, max_size=n_classes, unique=True))
    n_groups = draw(st.integers(2, 30))
    labels, groups = [], []
    for g in range(n_groups):
        # most patients have one class; some (tumor + normal tissue) have several
        own = draw(st.lists(st.sampled_from(classes), min_size=1, max_size=3))
        for c in own:
            labels.append(c)
            groups.append(f"patient {g}")
    perm = draw(st.permutations(range(len(labels))))
    return np.array(labels)[perm], np.array(groups)[perm]


@SETTINGS
@given(labelled_groups(), st.sampled_from([0.2, 0.25, 1 / 3, 0.5]), st.integers(0, 2**31 - 1))
def test_grouped_split_properties(lg, frac, seed):
    labels, groups = lg
    n_splits = max(2, round(1 / frac))
    single = {c: set(groups[labels == c]) - set(groups[labels != c]) for c in set(labels)}
    easy = all(len(s) >= 2 * n_splits for s in single.values())
    try:
        split = grouped_split(labels, groups, frac, seed)
    except InputError as exc:
        assert not easy, f"feasible split not found: {exc}"
        assert exc.path is None and "\n" not in str(exc)
        return
    assert split.shape == labels.shape
    assert set(split) == {"train", "test"}
    assert not set(groups[split == "train"]) & set(groups[split == "test"])
    for c in set(labels):
        assert (labels[split == "train"] == c).any() and (labels[split == "test"] == c).any()
    np.testing.assert_array_equal(split, grouped_split(labels, groups, frac, seed))
    for g in set(groups):  # a patient's samples stay together
        assert len(set(split[groups == g])) == 1

"""Stability of subcommunities under bootstrap resampling of the training patients.

A subcommunity is a product of the whole chain train -> grokking -> subcommunities on
one set of patients. To see whether it is a property of the data or of that particular
sample, the chain is rerun on ``B`` bootstrap resamples of the *training patients* and
each reference subcommunity is matched to the subcommunities found in every resample
(Hennig 2007, "Cluster-wise assessment of cluster stability", Comput. Stat. Data Anal.
52:258-271; the ``fpc::clusterboot`` scheme).

Resampling (:func:`bootstrap_resamples`)
    Training split only (``obs["split"] == "train"``); the test split is never read. The
    unit is the patient (``obs["group"]``): patients are drawn with replacement, every
    sample of a drawn patient comes along, and a patient drawn twice contributes its
    samples twice. The draw is stratified by the patient's *class pattern* (the sorted
    set of labels of its training samples, e.g. ``tumor`` or ``normal+tumor`` for a
    patient with a paired normal): each stratum is resampled to its own size, so every
    class is present in every resample and the class balance stays that of the data.
    Resample ``b`` uses ``numpy.random.default_rng([seed, b, 0xB007])``. Patients that
    were not drawn (out of bag) are the evaluation samples of the resample's training
    history: they enter no choice (the transition epoch is a function of the trained
    states only) and their balanced accuracy is only logged.
One resample (:func:`find_subcommunities`)
    Exactly the library calls of ``mpsomics train`` -> ``grokking`` -> ``subcommunities``:
    :class:`mpsomics.mps.fit.Fit` with the given :class:`~mpsomics.mps.config.TrainConfig`
    (model seed ``config.seed + b``), correlations recorded every ``observe_every`` epochs
    and rounded to float32 as ``correlations_trajectory.npz`` stores them;
    :func:`mpsomics.dynamics.grokking.analyze` for the transition epoch;
    :func:`mpsomics.omics.subcommunities.subcommunity_table` with the same options.
    A resample whose training diverges is counted in ``n_failed`` and left out.
Matching (:func:`stability_table`)
    For a reference subcommunity S of method m and resample b, ``J_b`` is the largest
    Jaccard index between S and the subcommunities of method m found in resample b (0
    when there is none). Reported: ``jaccard_mean`` (Hennig's stability index; >= 0.75
    "stable"), ``jaccard_median``, the 2.5 and 97.5 % percentiles of ``J_b`` over the
    resamples (``jaccard_low``, ``jaccard_high``: the spread of the match, a percentile
    interval of single resamples, not a confidence interval of the mean),
    ``recovered_fraction`` = fraction of resamples with ``J_b > 0.75`` and
    ``dissolved_fraction`` = fraction with ``J_b <= 0.5`` (clusterboot's ``recover`` and
    ``dissolution`` defaults).
Contrast null (:func:`contrast_null`)
    ``contrast`` = mean over the members of the magnetization contrast
    ``d_i = |m_k(i) - m_l(i)| / 2`` at the per-label epochs of the subcommunity (its
    ``epoch_<class>`` columns) in the reference run; the null is the same mean over
    size-matched random subsets of the parent community's genes, with ``d_i`` of every
    community gene read from the reference run's ``magnetization_trajectory.tsv`` at the
    same epochs. ``contrast_null_p`` is the empirical p-value with the +1 correction
    (:func:`mpsomics.validation.stats.empirical_p`) over ``random_sets`` subsets, or the
    exact fraction over *all* subsets when there are at most ``random_sets`` of them
    (then ``n_random_sets`` is that number). The subcommunity was selected on the same
    samples (``min_contrast``), so this null is a weak, in-sample check.
Classical sets (:func:`classical_stability_table`)
    The sets of :func:`mpsomics.omics.classical.classical_subcommunities` (methods
    ``classical`` and ``top_de``) are resampled on the *same* bootstrap resamples: the
    classical procedure (co-expression Leiden + DE filter; ``top_de`` with the sizes of
    the reference MPS subcommunities) is rerun on each resample's training samples (no
    MPS), and each reference set is matched to the sets of its own method exactly as
    above. Its ``contrast`` is the mean *data contrast* ``|mean_pos cos(pi x) -
    mean_neg cos(pi x)| / 2`` of its genes on the whole training split (the units of the
    MPS magnetization contrast), and the null draws size-matched random subsets of the
    community's genes with the same data contrast (seeds ``[seed, i, 0xC1A5]``).
    :func:`summarize` adjusts ``contrast_null_p`` by BH within each *family*: the MPS
    sets (``paper``, ``graph``, ...) together as before, ``classical`` and ``top_de``
    each on their own, so adding classical rows leaves the MPS q-values unchanged.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mpsomics.core.errors import InputError
from mpsomics.core.readers import read_tsv
from mpsomics.mps.config import TrainConfig
from mpsomics.validation.stats import best_match_jaccard, bh, empirical_p, random_sets

log = logging.getLogger(__name__)

#: Hennig's (2007) thresholds (``fpc::clusterboot`` defaults ``recover``, ``dissolution``)
RECOVERED_JACCARD = 0.75
DISSOLVED_JACCARD = 0.5
#: percentiles of the per-resample best-match Jaccard reported as jaccard_low / jaccard_high
INTERVAL = (2.5, 97.5)

#: Columns of ``results/validation/stability/{community}.tsv``, in order.
COLUMNS: tuple[str, ...] = (
    "community", "subcommunity", "method", "n_genes",
    "jaccard_mean", "jaccard_median", "jaccard_low", "jaccard_high",
    "recovered_fraction", "dissolved_fraction", "n_resamples", "n_failed",
    "contrast", "contrast_null_p", "contrast_null_median", "n_random_sets",
)  # fmt: skip
#: ``stability-summary`` adds this column (BH over every subcommunity of the table).
SUMMARY_COLUMNS: tuple[str, ...] = (*COLUMNS, "contrast_null_q")

_TEXT = ("community", "subcommunity", "method")


@dataclass
class StabilityData:
    """The training split of one community, as ``mpsomics train`` sees it.

    ``X`` are the prepared scaled values clipped to [0, 1] (as in ``train``); ``y`` class
    indices into ``classes``; ``groups`` the patient of every training sample.
    """

    genes: list[str]
    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    classes: list[str]
    positive: int


@dataclass(frozen=True)
class Resample:
    """One bootstrap resample: sample indices in the bag (with repeats) and out of bag."""

    index: int
    train: np.ndarray
    oob: np.ndarray
    n_patients: int


@dataclass
class ResampleResult:
    """What one resample produced: its subcommunity table (``None`` if training failed)."""

    index: int
    table: pd.DataFrame | None
    transition_epoch: int | None = None
    oob_balanced_accuracy: float = float("nan")
    seconds: float = 0.0
    error: str = ""


@dataclass
class ChainResult:
    """Outputs of one train -> grokking -> subcommunities run (:func:`find_subcommunities`).

    ``magnetization`` is the ``magnetization_trajectory.tsv`` frame of the run;
    ``transition_epoch`` is ``None`` when undefined.
    """

    table: pd.DataFrame
    transition_epoch: int | None
    history: pd.DataFrame
    magnetization: pd.DataFrame


@dataclass
class Chain:
    """The settings of one train -> grokking -> subcommunities run.

    ``grokking``: keyword arguments of :func:`mpsomics.dynamics.grokking.analyze`
    (``initial_epochs``, ``delta``, ``window``, ``plateau``, ``saturation``,
    ``rate_smooth``); ``subcommunities``: those of
    :func:`mpsomics.omics.subcommunities.subcommunity_table` (``methods``, ``threshold``,
    ``epoch_window``, ``graph_threshold``, ``resolution``, ``min_size``, ``seed``,
    ``magnetization_weight``, ``min_contrast``).
    """

    config: TrainConfig
    observe_every: int = 1
    grokking: dict = field(default_factory=dict)
    subcommunities: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- data


def load_stability_data(expression: str | os.PathLike, genes: Sequence[str],
                        genes_path: str | os.PathLike | None = None) -> StabilityData:
    """Training samples of ``genes`` from the prepared AnnData (test split never returned).

    Raises
    ------
    InputError
        Genes missing from the file, or fewer than two classes among the training samples.
    """
    from mpsomics.core.readers import check_genes_present, read_prepared

    path = Path(expression)
    adata = read_prepared(path)
    check_genes_present(adata, genes, path, genes_path)
    classes = [str(c) for c in adata.uns["classes"]]
    train = adata.obs["split"].astype(str).to_numpy() == "train"
    labels = adata.obs["label"].astype(str).to_numpy()[train]
    y = np.array([classes.index(lab) for lab in labels], dtype=np.int64)
    if len(np.unique(y)) < 2:
        raise InputError(path, "stability needs training samples of at least two classes")
    X = adata.X[:, adata.var_names.get_indexer(list(genes))]
    X = np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)[train]
    return StabilityData(
        genes=list(genes),
        X=np.clip(X, 0.0, 1.0),  # as `mpsomics train` (load_training_data)
        y=y,
        groups=adata.obs["group"].astype(str).to_numpy()[train],
        classes=classes,
        positive=classes.index(str(adata.uns["positive_label"])),
    )


def patient_strata(y: np.ndarray, groups: np.ndarray) -> dict[str, list[str]]:
    """Class pattern (``"normal+tumor"``, ``"tumor"``, ...) -> its patients, sorted."""
    y, groups = np.asarray(y), np.asarray(groups).astype(str)
    pattern: dict[str, set] = {}
    for g, lab in zip(groups, y, strict=True):
        pattern.setdefault(g, set()).add(int(lab))
    strata: dict[str, list[str]] = {}
    for g in sorted(pattern):
        strata.setdefault("+".join(map(str, sorted(pattern[g]))), []).append(g)
    return dict(sorted(strata.items()))


def bootstrap_resamples(y: np.ndarray, groups: np.ndarray, n: int, seed: int = 0) -> list[Resample]:
    """``n`` patient bootstrap resamples, stratified by class pattern (module docstring)."""
    groups = np.asarray(groups).astype(str)
    strata = patient_strata(y, groups)
    samples_of = {g: np.flatnonzero(groups == g) for g in np.unique(groups)}
    out = []
    for b in range(n):
        rng = np.random.default_rng([seed, b, 0xB007])
        drawn: list[str] = []
        for patients in strata.values():
            drawn += [patients[i] for i in rng.integers(0, len(patients), len(patients))]
        train = np.concatenate([samples_of[g] for g in drawn])
        oob = np.setdiff1d(np.arange(len(groups)), train)
        out.append(Resample(b, train, oob, len(set(drawn))))
    return out


# --------------------------------------------------------------------------- one run


@contextlib.contextmanager
def _quiet(*names: str) -> Iterator[None]:
    """Silence the per-run warnings of these loggers (one resample logs one summary line)."""
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, lev in zip(loggers, levels, strict=True):
            lg.setLevel(lev)


def find_subcommunities(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_eval: np.ndarray,
    y_eval: np.ndarray,
    *,
    genes: Sequence[str],
    classes: Sequence[str],
    positive: int,
    chain: Chain,
    community: str,
    name: str | None = None,
) -> ChainResult:
    """train -> grokking -> subcommunities in process, as the three stages do on files.

    Returns
    -------
    ChainResult
        The subcommunity table (``results/subcommunities/{community}.tsv`` rows), the
        entanglement transition epoch used, the training history (its ``test_*`` columns
        are the evaluation samples ``X_eval``) and the magnetization trajectory.
    """
    from mpsomics.dynamics import grokking, training_run
    from mpsomics.mps.fit import Fit
    from mpsomics.omics import subcommunities

    if chain.observe_every < 1:
        raise InputError(None, "--observe-every must be >= 1: subcommunities need the recorded correlations")
    genes, classes = list(genes), list(classes)
    _, history, obs = Fit(
        X_train, y_train, X_eval, y_eval, genes=genes, classes=classes, config=chain.config,
        positive=positive, observe_every=chain.observe_every, name=name or community,
        progress=False, correlations=True,
    ).run()
    entanglement = training_run.entanglement_frame(obs, classes)
    magnetization = training_run.magnetization_frame(obs, genes, classes)
    row = grokking.analyze(history, entanglement, name=name or community, **chain.grokking)
    t = row["transition_epoch"]
    transition = None if t is None or (isinstance(t, float) and math.isnan(t)) else int(t)
    # the float32 rounding of correlations_trajectory.npz, which the subcommunities stage reads
    connected = np.stack(obs.connected).astype(np.float32).astype(np.float64)
    table, _ = subcommunities.subcommunity_table(
        np.asarray(obs.epochs, dtype=np.int64), classes, genes, connected, magnetization,
        community=community, transition_epoch=transition, **chain.subcommunities,
    )
    return ChainResult(table, transition, history, magnetization)


# the dataset of a job, inherited by forked workers
_JOB: dict = {}


def _run_one(i: int) -> ResampleResult:
    from dataclasses import replace

    from mpsomics.core.errors import NumericalError

    job = _JOB
    data: StabilityData = job["data"]
    rs: Resample = job["resamples"][i]
    chain: Chain = job["chain"]
    chain = Chain(replace(chain.config, seed=int(chain.config.seed) + rs.index, threads=1,
                          checkpoint_every=0), chain.observe_every, chain.grokking, chain.subcommunities)
    t0 = time.perf_counter()
    try:
        with _quiet("mpsomics.dynamics.grokking", "mpsomics.omics.subcommunities"):
            res = find_subcommunities(
                data.X[rs.train], data.y[rs.train], data.X[rs.oob], data.y[rs.oob],
                genes=data.genes, classes=data.classes, positive=data.positive, chain=chain,
                community=job["community"], name=f"{job['community']} resample {rs.index}",
            )
    except NumericalError as exc:
        return ResampleResult(rs.index, None, seconds=time.perf_counter() - t0, error=str(exc))
    return ResampleResult(
        rs.index, res.table, res.transition_epoch,
        float(res.history["test_balanced_accuracy"].iloc[-1]), time.perf_counter() - t0,
    )


def run_resamples(
    data: StabilityData,
    resamples: Sequence[Resample],
    chain: Chain,
    *,
    community: str,
    workers: int = 1,
) -> Iterator[ResampleResult]:
    """Run the chain on every resample; yield results in resample order.

    ``workers`` > 1 forks that many processes (one BLAS thread each) that inherit the
    data, as :func:`mpsomics.mps.fits.run_fits` does.
    """
    _JOB.clear()
    _JOB.update(data=data, resamples=list(resamples), chain=chain, community=community)
    n = len(resamples)
    try:
        if workers <= 1 or n <= 1 or not hasattr(os, "fork"):
            for i in range(n):
                yield _run_one(i)
            return
        import multiprocessing as mp

        with mp.get_context("fork").Pool(min(workers, n)) as pool:
            yield from pool.imap(_run_one, range(n))
    finally:
        _JOB.clear()


# --------------------------------------------------------------------------- statistics


def reference_sets(table: pd.DataFrame) -> list[tuple[str, str, list[str]]]:
    """``(subcommunity, method, genes)`` of a subcommunity table, in file order."""
    out = []
    for sid, grp in table.groupby("subcommunity", sort=False):
        out.append((str(sid), str(grp["method"].iloc[0]), [str(g) for g in grp["gene"]]))
    return out


def sets_of_method(table: pd.DataFrame, method: str) -> list[list[str]]:
    sub = table[table["method"] == method]
    return [list(map(str, g["gene"])) for _, g in sub.groupby("subcommunity", sort=False)]


def jaccard_summary(values: Sequence[float]) -> dict[str, float]:
    """Mean, median, percentile interval, recovered and dissolved fractions of ``J_b``."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        nan = float("nan")
        return dict(jaccard_mean=nan, jaccard_median=nan, jaccard_low=nan, jaccard_high=nan,
                    recovered_fraction=nan, dissolved_fraction=nan)
    lo, hi = np.percentile(v, INTERVAL)
    return dict(
        jaccard_mean=float(v.mean()), jaccard_median=float(np.median(v)),
        jaccard_low=float(lo), jaccard_high=float(hi),
        recovered_fraction=float(np.mean(v > RECOVERED_JACCARD)),
        dissolved_fraction=float(np.mean(v <= DISSOLVED_JACCARD)),
    )


def gene_contrast(magnetization: pd.DataFrame, classes: Sequence[str], genes: Sequence[str],
                  epoch_of: Mapping[str, int]) -> np.ndarray:
    """``d_i = max_{k,l} |m_k(i) - m_l(i)| / 2`` of every gene at the per-label epochs."""
    from mpsomics.omics import subcommunities

    mag, notes = subcommunities.magnetization_at(magnetization, classes, genes, dict(epoch_of))
    for note in notes:
        log.warning("contrast null: %s", note)
    return subcommunities.magnetization_contrast(mag)


def contrast_null(contrast: np.ndarray, members: np.ndarray, n_sets: int,
                  rng: np.random.Generator) -> dict[str, float]:
    """Mean contrast of ``members`` (indices) vs size-matched subsets of all genes.

    Exact over every subset when there are at most ``n_sets`` of them (the fraction of
    subsets, the observed one included, whose mean is at least the observed mean);
    otherwise ``n_sets`` random subsets and the +1-corrected empirical p-value.
    """
    contrast = np.asarray(contrast, dtype=float)
    members = np.asarray(members, dtype=np.int64)
    k, n = members.size, contrast.size
    observed = float(contrast[members].mean())
    if n_sets <= 0 or k == 0 or k >= n:
        return dict(contrast=observed, contrast_null_p=float("nan"),
                    contrast_null_median=float("nan"), n_random_sets=0)
    total = math.comb(n, k)
    if total <= n_sets:
        null = np.array([contrast[list(c)].mean() for c in itertools.combinations(range(n), k)])
        # tolerance: the observed subset itself must count as ">=" despite rounding
        p = float(np.mean(null >= observed - 1e-12))
    else:
        idx = random_sets([str(i) for i in range(n)], k, n_sets, rng)
        null = np.array([contrast[[int(i) for i in s]].mean() for s in idx])
        p = empirical_p(observed, null)
    return dict(contrast=observed, contrast_null_p=p, contrast_null_median=float(np.median(null)),
                n_random_sets=int(null.size))


def _epochs_of(rows: pd.DataFrame, classes: Sequence[str]) -> dict[str, int] | None:
    cols = [f"epoch_{c}" for c in classes]
    if not all(c in rows for c in cols):
        return None
    vals = rows[cols].iloc[0]
    if vals.isna().any():
        return None
    return {c: int(vals[f"epoch_{c}"]) for c in classes}


def stability_table(
    reference: pd.DataFrame,
    results: Sequence[ResampleResult],
    *,
    community: str,
    community_genes: Sequence[str] | None = None,
    magnetization: pd.DataFrame | None = None,
    classes: Sequence[str] | None = None,
    n_random_sets: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per reference subcommunity (:data:`COLUMNS`).

    Parameters
    ----------
    reference
        The main run's subcommunity table (:func:`mpsomics.core.readers.read_subcommunities`).
    results
        The resamples (:func:`run_resamples`); failed ones (``table is None``) count in
        ``n_failed`` only.
    community_genes, magnetization, classes
        The parent community (site order), the reference run's
        ``magnetization_trajectory.tsv`` (:func:`mpsomics.dynamics.training_run.load_magnetization`)
        and the classes: needed for the contrast null; without them ``contrast`` is the
        mean of the table's ``contrast`` column and the null columns are empty.
    n_random_sets, seed
        Size of the contrast null and its seed.
    """
    ok = [r for r in results if r.table is not None]
    rows = []
    for i, (sid, method, genes) in enumerate(reference_sets(reference)):
        row, null = _jaccard_row(reference, sid, method, genes, ok, len(results), community)
        ref_rows = reference[reference["subcommunity"] == sid]
        epoch_of = _epochs_of(ref_rows, classes) if classes is not None else None
        if magnetization is not None and community_genes is not None and epoch_of is not None:
            cg = list(community_genes)
            contrast_all = gene_contrast(magnetization, classes, cg, epoch_of)
            null = _checked_null(sid, null["contrast"], contrast_all, [cg.index(g) for g in genes],
                                 n_random_sets, np.random.default_rng([seed, i, 0xC047]), "the magnetization file")
        rows.append(row | null)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _jaccard_row(reference: pd.DataFrame, sid: str, method: str, genes: Sequence[str],
                 ok: Sequence[ResampleResult], n_results: int, community: str) -> tuple[dict, dict]:
    """The stability columns of one reference set, and its contrast as its table states it (no null yet)."""
    values = [best_match_jaccard(genes, sets_of_method(r.table, method)) for r in ok]
    row: dict[str, object] = {"community": community, "subcommunity": sid, "method": method,
                              "n_genes": len(genes), **jaccard_summary(values),
                              "n_resamples": len(ok), "n_failed": n_results - len(ok)}
    null = dict(contrast=float("nan"), contrast_null_p=float("nan"),
                contrast_null_median=float("nan"), n_random_sets=0)
    ref_rows = reference[reference["subcommunity"] == sid]
    if "contrast" in ref_rows:
        null["contrast"] = float(pd.to_numeric(ref_rows["contrast"], errors="coerce").mean())
    return row, null


def _checked_null(sid: str, stated: float, contrast_all: np.ndarray, members: Sequence[int], n_random_sets: int,
                  rng: np.random.Generator, source: str) -> dict:
    """:func:`contrast_null` of a set, warning when it disagrees with the contrast its table states."""
    recomputed = contrast_null(contrast_all, np.asarray(members), n_random_sets, rng)
    if np.isfinite(stated) and abs(recomputed["contrast"] - stated) > 1e-6:
        log.warning("%s: contrast %.4f in its table, %.4f from %s: were they made from the same run?",
                    sid, stated, recomputed["contrast"], source)
    return recomputed


# --------------------------------------------------------------------------- classical sets

#: methods of :mod:`mpsomics.omics.classical`, each its own BH family in :func:`summarize`
CLASSICAL_METHODS = ("classical", "top_de")


@dataclass
class ClassicalChain:
    """Settings of :func:`mpsomics.omics.classical.classical_subcommunities` for the resamples.

    ``sizes``: reference MPS subcommunity id -> number of genes (the ``top_de`` sizes; the
    reference sizes are kept in every resample).
    """

    threshold: float = 0.6
    resolution: float = 1.0
    min_size: int = 3
    min_contrast: float = 0.15
    fdr: float = 0.05
    seed: int = 0
    sizes: dict[str, int] | None = None

    def options(self) -> dict:
        """Keyword arguments of ``classical_subcommunities``."""
        return dict(threshold=self.threshold, resolution=self.resolution, min_size=self.min_size,
                    min_contrast=self.min_contrast, fdr=self.fdr, seed=self.seed, sizes=self.sizes)


def positive_indicator(data: StabilityData) -> np.ndarray:
    """1 for training samples of the positive class, 0 otherwise (``y01`` of the classical API)."""
    return (np.asarray(data.y) == data.positive).astype(np.int64)


def run_classical_resamples(data: StabilityData, resamples: Sequence[Resample], chain: ClassicalChain,
                            *, community: str) -> list[ResampleResult]:
    """The classical procedure on every resample's bag (in order); no MPS is trained.

    A resample where the procedure raises ``ValueError`` (e.g. a gene constant within the
    bag) is counted as failed, as a diverged MPS fit is.
    """
    from mpsomics.omics import classical

    y01 = positive_indicator(data)
    out = []
    for rs in resamples:
        t0 = time.perf_counter()
        try:
            with _quiet("mpsomics.omics.classical", "mpsomics.omics.subcommunities"):
                table = classical.classical_subcommunities(
                    data.X[rs.train], y01[rs.train], data.genes, community, **chain.options())
        except ValueError as exc:
            out.append(ResampleResult(rs.index, None, seconds=time.perf_counter() - t0, error=str(exc)))
            continue
        out.append(ResampleResult(rs.index, table, seconds=time.perf_counter() - t0))
    return out


def data_contrast(data: StabilityData) -> np.ndarray:
    """Data contrast of every community gene (site order) on the whole training split.

    From :func:`mpsomics.omics.classical.de_table` (its ``contrast`` column), so the units
    are exactly those of the classical DE filter.
    """
    from mpsomics.omics import classical

    de = classical.de_table(data.X, positive_indicator(data), data.genes)
    if "gene" in de.columns:
        de = de.set_index(de["gene"].astype(str))
    return de.loc[list(data.genes), "contrast"].to_numpy(dtype=float)


def classical_stability_table(
    reference: pd.DataFrame,
    results: Sequence[ResampleResult],
    *,
    community: str,
    contrast_all: np.ndarray | None = None,
    community_genes: Sequence[str] | None = None,
    n_random_sets: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per reference classical / top_de set (:data:`COLUMNS`), as :func:`stability_table`.

    Parameters
    ----------
    reference
        The classical table (``results/classical/{community}.tsv``).
    results
        :func:`run_classical_resamples`; failed ones count in ``n_failed`` only.
    contrast_all, community_genes
        Data contrast of every community gene (:func:`data_contrast`) in the order of
        ``community_genes``; without them ``contrast`` is the mean of the table's
        ``contrast`` column and the null columns are empty.
    n_random_sets, seed
        Size of the contrast null and its seed.
    """
    ok = [r for r in results if r.table is not None]
    rows = []
    for i, (sid, method, genes) in enumerate(reference_sets(reference)):
        row, null = _jaccard_row(reference, sid, method, genes, ok, len(results), community)
        if contrast_all is not None and community_genes is not None:
            cg = list(community_genes)
            null = _checked_null(sid, null["contrast"], contrast_all, [cg.index(g) for g in genes],
                                 n_random_sets, np.random.default_rng([seed, i, 0xC1A5]), "the training data")
        rows.append(row | null)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def bh_family(method: str) -> str:
    """The BH family of a method in :func:`summarize`: ``classical``, ``top_de`` or ``mps``."""
    return method if method in CLASSICAL_METHODS else "mps"


def empty_table() -> pd.DataFrame:
    """The header-only table of a community without subcommunities."""
    return pd.DataFrame(columns=list(COLUMNS))


def read_stability_tsv(path: str | os.PathLike) -> pd.DataFrame:
    """One ``stability/{community}.tsv`` (header-only allowed), checked."""
    numeric = [c for c in COLUMNS if c not in _TEXT]
    return read_tsv(path, COLUMNS, numeric=numeric, text=_TEXT, complete=("community", "subcommunity"))


def summarize(paths: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """Concatenate per-community tables; ``contrast_null_q`` = BH within each family.

    Families (:func:`bh_family`): every MPS subcommunity of every community together;
    ``classical`` and ``top_de`` sets each on their own.

    Raises
    ------
    InputError
        A subcommunity in two files.
    """
    frames = [read_stability_tsv(p) for p in paths]
    frames = [f for f in frames if len(f)]
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(COLUMNS))
    dup = out["subcommunity"].duplicated()
    if dup.any():
        raise InputError(paths[0] if paths else None,
                         f"subcommunity {out.loc[dup, 'subcommunity'].iloc[0]} appears in two input tables")
    out["contrast_null_q"] = np.nan if len(out) else []
    # MPS sets as one family (as before classical rows existed); each classical method its own
    for _, idx in out.groupby(out["method"].astype(str).map(bh_family), sort=False).groups.items():
        out.loc[idx, "contrast_null_q"] = bh(out.loc[idx, "contrast_null_p"].to_numpy(dtype=float))
    return out[list(SUMMARY_COLUMNS)]

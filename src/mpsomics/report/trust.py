"""The report's "How far to trust this" panels and verdict columns.

Reads the validation tables (``cv.tsv`` of ``cv-summary``, ``stability.tsv`` of
``stability-summary``, ``summary.tsv`` of ``validate``; formats in ``docs/outputs.md``),
applies the verdicts of :mod:`mpsomics.validation.verdict` and words every number for a
biologist: what it measures, on which split or cohort, and whether its null says it is
remarkable. Every table is optional: without them the report says validation was not
run; a table given but missing is a note; a malformed one is an
:class:`~mpsomics.core.errors.InputError` (it would hide a broken stage).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mpsomics.core.readers import given_input
from mpsomics.validation import verdict

MODEL_NAMES = {"mps": "MPS", "logistic_regression": "logistic regression", "random_forest": "random forest"}
HENNIG = "Hennig 2007"
LANGFELDER = "Langfelder et al. 2011: Z > 10 strong, 2–10 moderate, < 2 no evidence"
PRESERVATION_WORDS = {
    "strong": "strong evidence that its co-expression is preserved",
    "moderate": "moderate evidence that its co-expression is preserved",
    "none": "no evidence that its co-expression is preserved",
}


@dataclass
class Thresholds:
    """Verdict thresholds (config ``validation``: ``stable_jaccard``, ``fdr``, ``preserved_z``)."""

    stable_jaccard: float = 0.75
    fdr: float = 0.05
    preserved_z: float = 2.0

    @classmethod
    def from_config(cls, config: Mapping[str, str]) -> Thresholds:
        """From the flattened config of :func:`mpsomics.report.html.read_config` (defaults if absent)."""
        from mpsomics.core.errors import InputError

        out = cls()
        for name in ("stable_jaccard", "fdr", "preserved_z"):
            raw = config.get(f"validation.{name}")
            if raw is None or raw == "None":
                continue
            try:
                setattr(out, name, float(raw))
            except ValueError:
                raise InputError("--config-json", f"validation.{name} must be a number, got {raw!r}") from None
        return out


@dataclass
class Validation:
    """The validation tables of a run (each ``None`` when not given or missing) and their verdicts."""

    thresholds: Thresholds = field(default_factory=Thresholds)
    cv: pd.DataFrame | None = None
    stability: pd.DataFrame | None = None
    summary: pd.DataFrame | None = None
    communities: pd.DataFrame | None = None  # verdict.community_verdicts
    subcommunities: pd.DataFrame | None = None  # verdict.subcommunity_verdicts
    notes: list[str] = field(default_factory=list)
    config: Mapping[str, str] = field(default_factory=dict)
    classes: tuple[str, str] = ("negative", "positive")  # [negative, positive] names of the training data

    @property
    def run(self) -> bool:
        """Whether any validation table was read."""
        return any(t is not None for t in (self.cv, self.stability, self.summary))

    @property
    def cohorts(self) -> list[str]:
        return [] if self.summary is None else list(dict.fromkeys(self.summary["cohort"].astype(str)))


def read_validation(cv: Path | None, stability: Path | None, summary: Path | None,
                    config: Mapping[str, str], classes: Sequence[str], positive: str,
                    subcommunity_ids: Sequence[str] = ()) -> Validation:
    """Read the given tables and compute the verdicts.

    Parameters
    ----------
    cv, stability, summary
        The ``--cv``, ``--stability`` and ``--validation`` files (``None``: not given).
    config
        Flattened config (thresholds, CV design words).
    classes, positive
        Class names of the training data and the positive one (for "40 tumor / 5 normal").
    subcommunity_ids
        Every subcommunity the report shows: counted in "k of n" even without a
        validation row (then not a discovery).
    """
    v = Validation(thresholds=Thresholds.from_config(config), config=config)
    negative = next((c for c in classes if c != positive), "negative")
    v.classes = (negative, positive or "positive")
    for path, attr, reader, stage in (
        (cv, "cv", verdict.read_cv, "`mpsomics cv` and `cv-summary`"),
        (stability, "stability", verdict.read_stability, "`mpsomics stability` and `stability-summary`"),
        (summary, "summary", verdict.read_summary, "`mpsomics validate`"),
    ):
        if path is None:
            continue
        if not given_input(path, f"the {attr} table"):
            v.notes.append(f"{path} is missing: run {stage} to fill these numbers in.")
            continue
        setattr(v, attr, _mps_sets(reader(path)))
    t = v.thresholds
    if v.cv is not None:
        v.communities = verdict.community_verdicts(v.cv, fdr=t.fdr)
    if v.stability is not None or v.summary is not None:
        v.subcommunities = verdict.subcommunity_verdicts(v.stability, v.summary, t.stable_jaccard, t.fdr,
                                                         t.preserved_z)
    include_subcommunities(v, subcommunity_ids)
    return v


def _mps_sets(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` without the classical baselines' rows: this panel judges the MPS subcommunities.

    The classical sets (``omics.classical.METHODS``) are validated beside them in the same
    tables and compared in the report's own section (:mod:`mpsomics.report.beyond`).
    """
    from mpsomics.omics.classical import METHODS

    if "method" not in table.columns:
        return table
    return table[~table["method"].astype(str).isin(METHODS)].reset_index(drop=True)


def include_subcommunities(v: Validation, ids: Sequence[str]) -> None:
    """Add a verdict row (nothing measured, not a discovery) for each of ``ids`` without one.

    The report's "k of n" counts every subcommunity it shows, validated or not. Does
    nothing when validation was not run.
    """
    if not v.run or not ids:
        return
    subs = v.subcommunities if v.subcommunities is not None else verdict.subcommunity_verdicts(None, None)
    extra = [s for s in dict.fromkeys(ids) if s not in set(subs["subcommunity"])]
    if not extra:
        v.subcommunities = subs
        return
    add = pd.DataFrame({"community": [s.split("/")[0] for s in extra], "subcommunity": extra})
    add = add.reindex(columns=subs.columns)
    out = pd.concat([subs.astype(object), add.astype(object)], ignore_index=True) if len(subs) else add
    for col in ("stable", "significant_external", "significant_contrast", "significant", "preserved"):
        out[col] = pd.array([_state(x) for x in out[col]], dtype="boolean")
    out["discovery"] = [_state(x) is True for x in out["discovery"]]
    for col in ("best_null_cohort", "preservation_cohort", "preservation", "significance_basis"):
        out[col] = ["" if _state(x) is None else str(x) for x in out[col]]
    out["n_cohorts"] = pd.to_numeric(out["n_cohorts"]).fillna(0).astype(int)
    for col in ("n_genes", "jaccard_mean", "jaccard_low", "jaccard_high", "n_resamples", "contrast_null_q",
                "best_null_q", "max_preservation_z"):
        out[col] = pd.to_numeric(out[col]).astype(float)
    v.subcommunities = out


# --------------------------------------------------------------------------- words and numbers


def _ok(x: object) -> bool:
    try:
        return x is not None and bool(np.isfinite(float(x)))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def num(x: object, digits: int = 2) -> str:
    """A value with ``digits`` decimals, ``–`` when missing."""
    return f"{float(x):.{digits}f}" if _ok(x) else "–"  # type: ignore[arg-type]


def ci(mean: object, low: object, high: object, digits: int = 2) -> str:
    """``0.95 [0.92, 0.98]`` (the interval left out when an end is missing)."""
    if not _ok(mean):
        return "–"
    if _ok(low) and _ok(high):
        return f"{num(mean, digits)} [{num(low, digits)}, {num(high, digits)}]"
    return num(mean, digits)


def pval(p: object) -> str:
    """A p- or q-value with two significant digits (``–`` when missing)."""
    if not _ok(p):
        return "–"
    p = float(p)  # type: ignore[arg-type]
    return f"{p:.2g}" if p < 0.1 else f"{p:.2f}"


def _state(flag: object) -> bool | None:
    """A nullable verdict as True / False / None (not measured)."""
    if flag is None or flag is pd.NA or (isinstance(flag, float) and np.isnan(flag)):
        return None
    return bool(flag)


def mark(flag: object) -> str:
    """✔ / ✘ / – for a nullable verdict."""
    state = _state(flag)
    return "–" if state is None else "✔" if state else "✘"


def _int(x: object) -> int | None:
    return int(float(x)) if _ok(x) else None  # type: ignore[arg-type]


def class_counts(n_positive: object, n_negative: object, classes: tuple[str, str]) -> str:
    """``40 tumor / 5 normal`` (empty when unknown)."""
    pos, neg = _int(n_positive), _int(n_negative)
    if pos is None or neg is None:
        return ""
    return f"{pos} {classes[1]} / {neg} {classes[0]}"


#: ``interval_method`` / ``test_interval_method`` of cv.tsv in words
INTERVAL_WORDS = {
    "nadeau_bengio_t": "corrected resampled t interval of Nadeau & Bengio 2003, which allows for the overlap "
                       "of the folds' training parts",
    "stratified_percentile_bootstrap": "class-stratified percentile bootstrap",
}


def cv_design(config: Mapping[str, str], n_folds: object, n_repeats: object = None) -> str:
    """The CV protocol in words: from the table's ``n_folds`` (K) and ``n_repeats``, else the config."""
    folds, repeats = _int(n_folds), _int(n_repeats)
    if folds is None or repeats is None:
        folds = folds or _int(config.get("validation.folds"))
        repeats = _int(config.get("validation.repeats"))
    if folds and repeats:
        times = "once" if repeats == 1 else f"{repeats} times"
        return f"{folds}-fold cross-validation repeated {times}"
    return f"{folds}-fold cross-validation" if folds else "cross-validation"


def _interval_words(row: Mapping[str, Any], column: str, default: str) -> str:
    method = str(row.get(column, "") or "")
    return INTERVAL_WORDS.get(method, method.replace("_", " ") if method else default)


def null_phrase(p: object, q: object, fdr: float, what: str = "random gene sets of the same size") -> str:
    """Plain words for an empirical p (and its BH q) against a null of random sets."""
    if not _ok(p):
        return f"not compared with {what}"
    qtxt = f", q = {pval(q)}" if _ok(q) else ""
    significant = _ok(q) and float(q) <= fdr  # type: ignore[arg-type]
    if significant:
        return f"better than {what} (p = {pval(p)}{qtxt})"
    if float(p) <= fdr and _ok(q):  # type: ignore[arg-type]
        return (f"better than most {what} (p = {pval(p)}) but not after adjusting for the sets tested "
                f"(q = {pval(q)} > FDR {fdr:g})")
    return f"{what} do about as well (p = {pval(p)}{qtxt}): unremarkable at FDR {fdr:g}"


def preservation_phrase(z: object) -> str:
    """``preservation Z = 12.3: strong evidence ...`` in Langfelder's words."""
    if not _ok(z):
        return "preservation not measured"
    cat = verdict.preservation_category(float(z))  # type: ignore[arg-type]
    return f"preservation Z = {num(z, 1)}: {PRESERVATION_WORDS[cat]}"


def balanced_accuracy_step(n_positive: object, n_negative: object) -> float | None:
    """How much one misclassified sample of the smaller class moves the balanced accuracy: 1 / (2 n_min)."""
    pos, neg = _int(n_positive), _int(n_negative)
    if not pos or not neg:
        return None
    return 1.0 / (2 * min(pos, neg))


# --------------------------------------------------------------------------- per community


def _rows(df: pd.DataFrame | None, **match: str) -> pd.DataFrame:
    if df is None:
        return pd.DataFrame()
    keep = np.ones(len(df), dtype=bool)
    for col, value in match.items():
        keep &= (df[col].astype(str) == value).to_numpy()
    return df[keep]


def _cohort_counts(row: pd.Series, v: Validation) -> str:
    """``100 samples: 50 tumor / 50 other`` of one summary row."""
    n, pos = _int(row.get("n_samples")), _int(row.get("n_positive"))
    if n is None:
        return ""
    if pos is None:
        return f"{n} samples"
    positive = v.config.get(f"validation.cohorts.{row['cohort']}.positive_label") or v.classes[1]
    negative = v.classes[0] if positive == v.classes[1] else "other"
    return f"{n} samples: {pos} {positive} / {n - pos} {negative}"


def _genes_found(row: pd.Series) -> str:
    found, total = _int(row.get("n_found")), _int(row.get("n_genes"))
    if found is None or total is None:
        return ""
    return f"{found} of {total} genes found"


def _external_sentence(row: pd.Series, v: Validation, score: str) -> str:
    """One cohort's line: samples, genes found, AUC vs its null, preservation."""
    where = ", ".join(x for x in (_cohort_counts(row, v), _genes_found(row)) if x)
    head = f"{row['cohort']}" + (f" ({where})" if where else "")
    if _ok(row.get("auc")):
        auc = (f"{score} AUC {ci(row['auc'], row.get('auc_low'), row.get('auc_high'))} "
               f"(bootstrap 95 % interval); {null_phrase(row.get('null_p'), row.get('null_q'), v.thresholds.fdr)}")
    else:
        auc = "no AUC (the cohort has no labels for this contrast)"
    return f"{head}: {auc}; {preservation_phrase(row.get('preservation_z'))}."


def community_panel(community: str, v: Validation, sub_ids: Sequence[str]) -> dict[str, Any]:
    """Everything the "How far to trust this" panel of one community shows.

    Returns ``{"run", "sentences", "models", "subs", "notes"}``: ``models`` are the
    rows of the per-model table, ``subs`` one entry per subcommunity (``id``,
    ``marks``, ``sentences``, ``discovery``).
    """
    panel: dict[str, Any] = {"run": v.run, "sentences": [], "models": [], "subs": [], "notes": [], "external": []}
    if not v.run:
        return panel
    cv = _rows(v.cv, community=community)
    if v.cv is None:
        panel["notes"].append("Cross-validation was not run (no cv.tsv): no CV AUC, permutation test or test-split AUC.")
    elif cv.empty:
        panel["notes"].append(f"cv.tsv has no row for {community}.")
    else:
        by = {str(m): r for m, r in cv.set_index("model").iterrows()}
        for m in verdict.MODELS:
            if m not in by:
                continue
            r = by[m]
            panel["models"].append({
                "model": MODEL_NAMES[m],
                "auc": ci(r["auc_mean"], r["auc_low"], r["auc_high"]),
                "ba": ci(r["balanced_accuracy_mean"], r["balanced_accuracy_low"], r["balanced_accuracy_high"]),
                "permutation": (f"p = {pval(r['permutation_p'])}, q = {pval(r['permutation_q'])}"
                                if _ok(r["permutation_p"]) else "–"),
                "test_auc": ci(r["test_auc"], r["test_auc_low"], r["test_auc_high"]),
                "test_ba": num(r["test_balanced_accuracy"]),
            })
        r0 = next(iter(by.values()))
        panel["design"] = cv_design(v.config, r0["n_folds"], r0.get("n_repeats"))
        panel["interval"] = _interval_words(r0, "interval_method", "95 % interval over the folds")
        _cv_sentences(panel, community, by, v)
    ext = _rows(v.summary, set=community, kind="community")
    for _, row in ext.iterrows():
        panel["external"].append(_external_sentence(row, v, "MPS"))
    if v.summary is None:
        panel["notes"].append("No independent cohort was validated (no summary.tsv of `mpsomics validate`).")
    subs = v.subcommunities
    for sid in sub_ids:
        vr = _rows(subs, subcommunity=sid)
        panel["subs"].append(_subcommunity_entry(sid, vr.iloc[0] if len(vr) else None, v))
    if v.stability is None and sub_ids:
        panel["notes"].append("Stability was not measured (no stability.tsv): no subcommunity can be called stable.")
    return panel


def _cv_sentences(panel: dict[str, Any], community: str, by: Mapping[str, pd.Series], v: Validation) -> None:
    t = v.thresholds
    neg, pos = v.classes
    mps = by.get("mps")
    parts = []
    for m in verdict.MODELS:
        if m in by:
            r = by[m]
            parts.append(f"{MODEL_NAMES[m]} {ci(r['auc_mean'], r['auc_low'], r['auc_high'])}")
    panel["sentences"].append(
        f"Cross-validated AUC on the training split ({panel['design']}, samples of one patient always in the "
        f"same fold, every model on the same folds; mean over the folds and 95 % interval, {panel['interval']}): "
        f"{'; '.join(parts)}. AUC 0.5 is guessing, 1 is a perfect ranking of {pos} above {neg}."
    )
    verdicts = _rows(v.communities, community=community)
    if mps is None or verdicts.empty:
        return
    cr = verdicts.iloc[0]
    words = {"higher": "lies entirely above", "lower": "lies entirely below", "overlapping": "overlaps"}
    by_word: dict[str, list[str]] = {}
    for b in verdict.BASELINES:
        if cr[f"vs_{b}"]:
            by_word.setdefault(cr[f"vs_{b}"], []).append(MODEL_NAMES[b])
    comp = [f"{words[w]} {'that of ' + names[0] if len(names) == 1 else 'those of ' + ' and '.join(names)}"
            for w, names in by_word.items()]
    if comp:
        verdict_words = (
            "the MPS does better than a linear model on these genes" if cr["vs_logistic_regression"] == "higher"
            else "a linear model does better" if cr["vs_logistic_regression"] == "lower"
            else "no difference from a linear model is shown")
        panel["sentences"].append(f"The MPS interval {' and '.join(comp)}: {verdict_words}.")
    n_perm = _int(mps["n_permutations"])
    if _ok(mps["permutation_p"]) and n_perm:
        hits = max(round(float(mps["permutation_p"]) * (n_perm + 1)) - 1, 0)
        epochs = _int(mps.get("permutation_epochs")) or _int(v.config.get("validation.permutation_epochs"))
        folds = _int(mps.get("n_folds"))
        cheap = ""
        if epochs:  # the cheaper evaluation of each shuffle (docs/validation.md)
            details = ([f"{folds} folds of the first repeat"] if folds else []) + [f"{epochs} training epochs"]
            observed = (f" (AUC {num(mps['permutation_observed'])})" if _ok(mps.get("permutation_observed")) else "")
            cheap = (f"; to keep this affordable each shuffle is scored more cheaply ({', '.join(details)}) and "
                     f"the true labels are scored the same way{observed}")
        median = (f"Shuffled labels reach a median AUC of {num(mps['permutation_null_median'])}; "
                  if _ok(mps.get("permutation_null_median")) else "")
        reached = f"{'none' if hits == 0 else hits} of the {n_perm} shuffles reached the true labels' AUC"
        q = f", q = {pval(mps['permutation_q'])} (Benjamini–Hochberg across communities)" if _ok(mps["permutation_q"]) else ""
        if _state(cr["significant"]):
            tail = "the MPS learned more than chance"
        elif hits == 0:
            # p at its floor 1 / (n + 1): the null could not say more with this many shuffles
            tail = (f"no shuffle did as well, but {n_perm} shuffles cannot give p below {pval(1 / (n_perm + 1))} "
                    f"and the adjusted q is above the FDR of {t.fdr:g}: more permutations are needed to decide")
        else:
            tail = f"not distinguishable from chance at FDR {t.fdr:g}"
        count = f"{median}{reached}"
        panel["sentences"].append(
            f"Label-permutation null: the {pos}/{neg} labels were shuffled among the training patients {n_perm} times "
            f"and the MPS cross-validated on each{cheap}. {count[0].upper()}{count[1:]}: "
            f"p = {pval(mps['permutation_p'])}{q} — {tail}.")
    if _ok(mps["test_auc"]):
        counts = class_counts(mps["test_n_positive"], mps["test_n_negative"], v.classes)
        step = balanced_accuracy_step(mps["test_n_positive"], mps["test_n_negative"])
        small = min(_int(mps["test_n_positive"]) or 0, _int(mps["test_n_negative"]) or 0)
        minority = v.classes[1] if (_int(mps["test_n_positive"]) or 0) <= (_int(mps["test_n_negative"]) or 0) else v.classes[0]
        step_txt = (f" With {small} {minority} samples, one misclassified {minority} sample moves the balanced "
                    f"accuracy by {step:.2f}." if step is not None else "")
        model = str(mps.get("test_model", "") or "mps").upper()
        boot = _interval_words(mps, "test_interval_method", "bootstrap")
        panel["sentences"].append(
            f"Held-out test split (never used for training or for any choice; test split: {counts}): the trained "
            f"{model}'s AUC is {ci(mps['test_auc'], mps['test_auc_low'], mps['test_auc_high'])} (95 % interval, "
            f"{boot}), balanced accuracy {num(mps['test_balanced_accuracy'])}.{step_txt}")


def _subcommunity_entry(sid: str, vr: pd.Series | None, v: Validation) -> dict[str, Any]:
    t = v.thresholds
    entry: dict[str, Any] = {"id": sid, "sentences": [], "discovery": False, "n_genes": None, "verdict": "",
                             "marks": {"stable": "–", "significant": "–", "preserved": "–"}}
    if vr is None:
        entry["sentences"].append("Not validated (no row in the validation tables).")
        return entry
    entry["marks"] = {k: mark(vr[k]) for k in ("stable", "significant", "preserved")}
    entry["discovery"] = bool(vr["discovery"])
    entry["n_genes"] = _int(vr["n_genes"])
    if _ok(vr["jaccard_mean"]):
        stable = (f"stable (≥ {t.stable_jaccard:g}, the level {HENNIG} calls stable)" if _state(vr["stable"]) else
                  f"not stable (below {t.stable_jaccard:g}): other patients would give a noticeably different gene set")
        entry["sentences"].append(
            f"Stability: after resampling the training patients (bootstrap, {_int(vr['n_resamples'])} times) and rerunning "
            f"training and subcommunity detection, the best-matching gene set overlaps this one with mean Jaccard "
            f"{ci(vr['jaccard_mean'], vr['jaccard_low'], vr['jaccard_high'])} (1 = the same genes every time) — {stable}.")
    else:
        entry["sentences"].append("Stability not measured.")
    srow = _rows(v.stability, subcommunity=sid)
    if len(srow) and "contrast_null_p" in srow and _ok(srow["contrast_null_p"].iloc[0]):
        s = srow.iloc[0]
        entry["sentences"].append(
            f"Training split: the contrast between the {v.classes[1]} and {v.classes[0]} MPS states is "
            f"{num(s.get('contrast'))}; {null_phrase(s['contrast_null_p'], s.get('contrast_null_q'), t.fdr)}"
            + (" (used for the verdict because no cohort gave an AUC)." if vr["significance_basis"] == "contrast" else "."))
    for _, row in _rows(v.summary, set=sid, kind="subcommunity").iterrows():
        entry["sentences"].append(_external_sentence(row, v, "signed-score"))
    if entry["discovery"]:
        entry["verdict"] = "Stable, significant and preserved: a discovery by this report's rules."
    else:
        state = {k: _state(vr[k]) for k in ("stable", "significant", "preserved")}
        failed = [k for k, x in state.items() if x is False]
        unknown = [k for k, x in state.items() if x is None]
        why = "; ".join(x for x in ("not " + ", not ".join(failed) if failed else "",
                                    "not measured: " + ", ".join(unknown) if unknown else "") if x)
        entry["verdict"] = f"Not a discovery ({why})."
    return entry


# --------------------------------------------------------------------------- summary tables


def summary_columns(community: str, v: Validation, n_subcommunities: int | None = None) -> dict[str, str]:
    """The verdict cells of one community's row in the summary table (``–`` when not measured).

    ``n_subcommunities`` = 0 (the community has none) shows "no subcommunity".
    """
    out = {"cv_mps": "–", "cv_logistic_regression": "–", "cv_random_forest": "–", "vs_lr": "–",
           "permutation": "–", "beats_null": "–", "test": "–", "test_counts": "", "discoveries": "–"}
    cv = _rows(v.cv, community=community)
    for _, r in cv.iterrows():
        out[f"cv_{r['model']}"] = ci(r["auc_mean"], r["auc_low"], r["auc_high"])
        if r["model"] == "mps":
            out["test"] = ci(r["test_auc"], r["test_auc_low"], r["test_auc_high"])
            out["test_counts"] = class_counts(r["test_n_positive"], r["test_n_negative"], v.classes)
            if _ok(r["permutation_p"]):
                out["permutation"] = f"{pval(r['permutation_p'])} ({pval(r['permutation_q'])})"
    cr = _rows(v.communities, community=community)
    if len(cr):
        out["beats_null"] = mark(cr["significant"].iloc[0])
        out["vs_lr"] = {"higher": "higher", "lower": "lower", "overlapping": "overlap", "": "–"}[
            cr["vs_logistic_regression"].iloc[0]]
    subs = _rows(v.subcommunities, community=community)
    if len(subs):
        out["discoveries"] = f"{int(subs['discovery'].sum())} of {len(subs)}"
    elif n_subcommunities == 0:
        out["discoveries"] = "no subcommunity"
    return out


def subcommunity_table(v: Validation, order: Sequence[str]) -> dict[str, Any]:
    """Rows of the top subcommunity table, the cohorts (columns) and the "k of n" sentence."""
    subs = _shown(v.subcommunities, order)
    if subs.empty:
        return {"rows": [], "cohorts": v.cohorts, "sentence": "", "k": 0, "n": 0}
    rows = []
    for _, s in subs.iterrows():
        ext = _rows(v.summary, set=str(s["subcommunity"]), kind="subcommunity")
        per = {}
        for cohort in v.cohorts:
            c = _rows(ext, cohort=cohort)
            if c.empty:
                per[cohort] = {"auc": "–", "null": "–", "z": "–"}
                continue
            r = c.iloc[0]
            per[cohort] = {"auc": ci(r["auc"], r["auc_low"], r["auc_high"]),
                           "null": f"{pval(r['null_p'])} ({pval(r['null_q'])})" if _ok(r["null_p"]) else "–",
                           "z": (f"{num(r['preservation_z'], 1)} ({verdict.preservation_category(r['preservation_z'])})"
                                 if _ok(r["preservation_z"]) else "–")}
        rows.append({
            "id": str(s["subcommunity"]), "community": str(s["community"]),
            "n_genes": str(_int(s["n_genes"])) if _ok(s["n_genes"]) else "–",
            "jaccard": ci(s["jaccard_mean"], s["jaccard_low"], s["jaccard_high"]),
            "cohorts": per, "stable": mark(s["stable"]), "significant": mark(s["significant"]),
            "basis": s["significance_basis"], "preserved": mark(s["preserved"]), "discovery": bool(s["discovery"]),
        })
    k, n = int(subs["discovery"].sum()), len(subs)
    sentence = f"{k} of {n} subcommunit{'y is' if n == 1 else 'ies are'} stable, significant and preserved."
    return {"rows": rows, "cohorts": v.cohorts, "sentence": sentence, "k": k, "n": n}


def _shown(subs: pd.DataFrame | None, order: Sequence[str]) -> pd.DataFrame:
    """The verdict rows of the communities the report shows, in report order."""
    if subs is None or subs.empty:
        return pd.DataFrame()
    rank = {c: i for i, c in enumerate(order)}
    keep = subs[subs["community"].isin(rank)]
    return keep.assign(_r=keep["community"].map(rank)).sort_values("_r", kind="mergesort").drop(columns="_r")


# --------------------------------------------------------------------------- figures


def overview_figures(v: Validation, order: Sequence[str]) -> list[tuple[str, str, Any, str]]:
    """``(key, title, figure, caption)`` of the validation overview figures (none without tables)."""
    from mpsomics.report import figures

    out = []
    t = v.thresholds
    shown = [c for c in order if v.cv is not None and c in set(v.cv["community"])]
    if shown:
        mps = v.cv[(v.cv["model"] == "mps") & v.cv["community"].isin(shown)].set_index("community")
        counts = ""
        if len(mps):
            uniq = mps[["test_n_positive", "test_n_negative"]].drop_duplicates()
            if len(uniq) == 1:
                counts = class_counts(uniq.iloc[0, 0], uniq.iloc[0, 1], v.classes)
        qs = {c: mps.loc[c, "permutation_q"] for c in mps.index}
        labels = {c: (f"{c} (q {pval(qs[c])})" if c in qs and _ok(qs[c]) else c) for c in order}
        fig = figures.cv_forest_figure(v.cv, shown, labels,
                                       test_counts=counts, model_names=MODEL_NAMES)
        out.append(("validation_cv", "Cross-validated and held-out AUC of every community", fig,
                    "Left: AUC on the training split, mean and 95 % interval over the repeated patient-grouped "
                    "cross-validation folds; the MPS and both baselines were evaluated on the same folds, so their "
                    "intervals can be compared directly. q after the community id: Benjamini–Hochberg-adjusted "
                    "p-value of the MPS against its label-permutation null. Right: AUC on the held-out test split "
                    f"({counts or 'class counts in the panels'}) with its bootstrap 95 % interval; the test split "
                    "was never used for training or for any choice. The axes are zoomed to the values shown (AUC 0.5 = guessing, "
                    "1 = a perfect ranking)."))
    subs = _shown(v.subcommunities, order)
    if len(subs) and (v.stability is not None or v.summary is not None):
        fig = figures.subcommunity_evidence_figure(subs, v.summary, stable_jaccard=t.stable_jaccard, fdr=t.fdr,
                                                   preserved_z=t.preserved_z)
        out.append(("validation_subcommunities", "Subcommunities: stability, external AUC, preservation", fig,
                    f"One row per subcommunity (★: stable, significant and preserved). Left: mean best-match Jaccard "
                    f"index across bootstrap resamples of the training patients with its 95 % interval; dashed line: "
                    f"{t.stable_jaccard:g} ({HENNIG}). Middle: AUC of the signed subcommunity score in each independent "
                    f"cohort with its bootstrap interval; filled marker: better than size-matched random gene sets "
                    f"(BH q ≤ {t.fdr:g}), open marker: random sets do about as well. Right: module-preservation "
                    f"Zsummary per cohort ({LANGFELDER}); the shaded bands mark the three categories."))
    return out


__all__ = [
    "Thresholds", "Validation", "ci", "class_counts", "community_panel", "null_phrase", "overview_figures",
    "preservation_phrase", "pval", "read_validation", "subcommunity_table", "summary_columns",
]  # fmt: skip

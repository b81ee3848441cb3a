"""Grokking analysis of one MPS training run: entanglement transition and generalisation jump.

Following Pomarico et al. 2025 (arXiv:2503.10483), grokking of an MPS classifier shows
up as an *entanglement transition*: the entanglement entropy summed along the chain
first grows while the model fits the training set, then drops to a minimum when the
model generalises. This module finds that transition from ``entanglement.tsv`` and the
generalisation jump from ``history.tsv``.

Definitions (all epochs are the ``epoch`` values in the files; epoch 0 = untrained)
-----------------------------------------------------------------------------------
Total entropy
    ``S_ℓ(e) = Σ_b S_ℓ(e, b)`` (sum over bonds) per label ℓ, and the combined
    ``S_total(e) = Σ_ℓ S_ℓ(e)`` (sum over labels; the mean over labels has the same
    argmin, argmax and rate epochs). Only epochs recorded in ``entanglement.tsv``
    (every ``--observe-every`` epochs) are used.
Initial phase
    With ``initial_epochs=n``: epochs ``< n``. Otherwise (default, automatic): the
    epochs before the *peak* = the first argmax of ``S_total`` among the recorded
    epochs in the first half of training (``e <= e_first + (e_last - e_first)/2``);
    entanglement typically grows first and drops at the transition.
``min_entropy_epoch``, ``entropy_drop``
    The first argmin of ``S_total`` over recorded epochs ``>=`` the end of the initial
    phase (peak included), and the fraction of the peak entanglement lost by then,
    ``(S_peak - S_min) / S_peak`` in [0, 1]. From a product-state start (S_0 ~ 0) that
    is the drop relative to the rise; from a random start (Fashion-MNIST) the drop
    relative to the initial value.
``transition_status``, ``transition_epoch``
    One definition for the gene pipeline and the Fashion-MNIST experiment. The status
    is, checked in this order: ``too_few_epochs`` (< 3 recorded, or none at or after
    an explicit ``initial_epochs``), ``flat`` (constant
    entropy), ``no_drop`` (the minimum is the peak itself: the entropy never falls
    below it), ``still_falling`` (the minimum is the last recorded epoch: no minimum
    reached yet), ``small_drop`` (``entropy_drop < min_drop``, default 0.5: a small
    late dip is no transition), else ``transition``. ``transition_epoch`` is the
    minimum's epoch for status ``transition`` and empty otherwise (the subcommunities
    stage then uses all epochs). With an explicit ``initial_epochs`` the peak is the
    first recorded epoch ``>= initial_epochs``.
Controls (``control_entanglement``)
    Label-permutation controls (:mod:`mpsomics.dynamics.controls`): the same training
    on permuted training labels, the analogue of the paper's sneaker-vs-sneaker task.
    **A transition counts only when the real run has one and it loses a larger fraction
    of its peak entanglement than every control** (``beats_control``). Also reported:
    ``n_controls``, ``control_transitions`` (controls with status ``transition``),
    ``control_max_drop`` and ``control_p`` = (1 + #{controls with entropy_drop >=
    the real one}) / (K + 1), the permutation p-value of the drop (its floor is
    1 / (K + 1)). ``beats_control`` is False when the real run has no transition (with
    or without controls) and empty for a transition without controls (``n_controls``
    0: undefined, not a pass). Each control's drop is measured like the real run's
    (its own peak and minimum, the same ``initial_epochs`` and ``min_drop``).
``max_rate_epoch``
    Rate ``r_i = (S[i+1] - S[i]) / (e[i+1] - e[i])`` between consecutive recorded
    epochs, smoothed (signed) by a centred moving average over ``rate_smooth``
    intervals; the interval with the largest ``|r|`` among the intervals starting at or
    after the end of the initial phase (so that the initial growth does not win) is
    reported by its end epoch ``e[i+1]``; ``max_rate`` is its signed smoothed rate.
Per label
    The same two quantities on ``S_ℓ`` in ``transition_epoch_<label>`` and
    ``max_rate_epoch_<label>`` (each label has its own automatic peak; the same status
    rule and ``min_drop``: empty unless ``S_ℓ`` has a transition of its own).
Generalisation jump (test balanced accuracy ``a``; history epochs)
    A jump with onset ``j`` is an epoch such that (i) *plateau*: the ``plateau`` epochs
    ``j-plateau+1 .. j`` are all present with ``max(a) - min(a) < delta/2``; and (ii)
    *rise*: some epoch ``k`` with ``j < k <= j + window`` has ``a(k) - a(j) >= delta``.
    Scanning ``j`` left to right, the jump epoch is the first such ``k`` for the first
    such ``j``; the reported onset (``plateau_end_epoch``) is then moved to the last
    epoch ``j' < k`` that still satisfies (i) and ``a(k) - a(j') >= delta`` (for a step
    at 30 after a long plateau: onset 29, jump 30). After a jump at ``k`` the next
    onset is searched from ``k`` on (a new plateau must form). Note that a steady slow
    rise of r per epoch with ``delta/window <= r < delta/(2 (plateau-1))`` (defaults:
    0.02 <= r < 0.025) also counts as a jump.
``train_saturated_epoch``
    The first epoch where ``train_balanced_accuracy >= saturation``.
``grokking``
    True iff there is a jump whose onset ``j >= train_saturated_epoch`` (the model
    already fitted the training set while the test accuracy was still on a plateau:
    delayed generalisation). ``jump_epoch`` is the first such jump if any, else the
    first jump at all (then grokking is False); empty if none (grokking False). If the
    test metric is missing, jump and grokking are empty; if the train metric is missing
    and there is a jump, grokking is empty.
``lag``
    ``jump_epoch - transition_epoch`` (empty if either is empty).
``best_train_epoch``
    First epoch with the maximal ``train_balanced_accuracy``.

Leakage
-------
Test metrics are only *described* here (grokking is by definition about test
accuracy); they are never used to choose a model, an epoch or a threshold for other
stages. ``transition_epoch``, which the subcommunities stage uses, is computed from
the entanglement entropies of the trained states only (``entanglement.tsv`` does not
depend on test data).
"""

from __future__ import annotations

import csv
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mpsomics.core.errors import InputError
from mpsomics.core.files import atomic_path
from mpsomics.core.readers import read_text, read_tsv

log = logging.getLogger(__name__)

#: default parameters (CLI defaults too)
DEFAULTS: dict[str, object] = {
    "initial_epochs": None,
    "delta": 0.1,
    "window": 5,
    "plateau": 3,
    "saturation": 0.99,
    "rate_smooth": 3,
    "min_drop": 0.5,
}

#: leading columns of ``{community}.tsv`` (contract of docs/outputs.md), then extras
MAIN_COLUMNS = [
    "community",
    "transition_epoch",
    "max_rate_epoch",
    "jump_epoch",
    "train_saturated_epoch",
    "grokking",
    "lag",
    "final_test_balanced_accuracy",
    "final_train_balanced_accuracy",
    "best_train_epoch",
]
EXTRA_COLUMNS = [
    "transition_status",
    "entropy_drop",
    "min_entropy_epoch",
    "n_controls",
    "control_transitions",
    "control_max_drop",
    "control_p",
    "beats_control",
    "initial_phase_end_epoch",
    "entropy_at_transition",
    "max_rate",
    "plateau_end_epoch",
    "first_jump_epoch",
    "n_jumps",
    "n_epochs",
    "n_observed_epochs",
]
PARAM_COLUMNS = list(DEFAULTS)
#: values of ``transition_status`` (module docstring)
STATUSES = ("transition", "no_drop", "small_drop", "still_falling", "too_few_epochs", "flat")
#: columns holding epochs / counts (written as integers, empty when undefined)
_INT_PREFIXES = ("transition_epoch", "max_rate_epoch")
_INT_COLUMNS = {
    "jump_epoch",
    "min_entropy_epoch",
    "n_controls",
    "control_transitions",
    "train_saturated_epoch",
    "lag",
    "best_train_epoch",
    "initial_phase_end_epoch",
    "plateau_end_epoch",
    "first_jump_epoch",
    "n_jumps",
    "n_epochs",
    "n_observed_epochs",
    "initial_epochs",
    "window",
    "plateau",
    "rate_smooth",
}

_NAN = float("nan")


def _is_nan(x: object) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


# --------------------------------------------------------------------------- entropy


def total_entropy(entanglement: pd.DataFrame) -> pd.DataFrame:
    """Entropy summed over bonds: one row per recorded epoch, one column per label.

    Labels keep their order of first appearance in ``entanglement`` (the trainer's
    class order). A column ``total`` holds the sum over labels (``S_total``).
    """
    labels = list(dict.fromkeys(entanglement["label"].astype(str)))
    wide = entanglement.pivot_table(index="epoch", columns="label", values="entropy", aggfunc="sum")
    wide = wide[labels].sort_index()
    wide.columns = [str(c) for c in wide.columns]
    # An epoch missing a label would silently lower S_total: keep complete epochs only.
    wide = wide.dropna(how="any")
    wide["total"] = wide[labels].sum(axis=1)
    return wide


def _moving_average(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average; the window shrinks at the ends (no padding bias)."""
    width = max(1, int(width))
    if width == 1 or x.size == 0:
        return x.astype(float)
    half = width // 2
    kernel = np.ones(2 * half + 1)
    num = np.convolve(x, kernel, mode="same")
    den = np.convolve(np.ones_like(x, dtype=float), kernel, mode="same")
    return num / den


def entropy_transition(
    epochs: Sequence[int] | np.ndarray,
    entropy: Sequence[float] | np.ndarray,
    *,
    initial_epochs: int | None = None,
    rate_smooth: int = 3,
    min_drop: float = 0.5,
) -> dict[str, object]:
    """The entanglement transition of one entropy curve (see the module docstring).

    Parameters
    ----------
    epochs
        Recorded epochs, strictly increasing.
    entropy
        Total entropy at those epochs.
    initial_epochs
        End of the initial phase (epochs ``< initial_epochs`` are excluded); ``None``
        = automatic (after the first maximum within the first half of training).
    rate_smooth
        Width (in recorded intervals) of the centred moving average of the rate.
    min_drop
        Least fraction of the peak entropy the minimum must have lost.

    Returns
    -------
    dict
        ``transition_status``, ``transition_epoch`` (NaN unless the status is
        ``transition``), ``min_entropy_epoch``, ``entropy_drop``, ``max_rate_epoch``,
        ``max_rate``, ``initial_phase_end_epoch``, ``entropy_at_transition`` (NaN
        where undefined) and ``notes`` (list of str explaining the status).
    """
    e = np.asarray(epochs, dtype=float)
    s = np.asarray(entropy, dtype=float)
    out: dict = {
        "transition_status": "",
        "transition_epoch": _NAN,
        "min_entropy_epoch": _NAN,
        "entropy_drop": _NAN,
        "max_rate_epoch": _NAN,
        "max_rate": _NAN,
        "initial_phase_end_epoch": _NAN,
        "entropy_at_transition": _NAN,
        "notes": [],
    }
    status, note = _no_transition_possible(e, s, initial_epochs)
    if status:
        out["transition_status"] = status
        out["notes"].append(note)
        return out
    start = initial_phase_end(e, s, initial_epochs)
    out["initial_phase_end_epoch"] = e[start]
    t = start + int(np.argmin(s[start:]))
    peak = float(s[start])
    drop = (peak - float(s[t])) / peak if peak > 0 else 0.0
    out["min_entropy_epoch"] = e[t]
    out["entropy_drop"] = max(0.0, drop)
    if t == start:
        status, note = "no_drop", "entropy never falls below its peak: no transition"
    elif t == e.size - 1:
        status, note = "still_falling", "entropy is smallest at the last recorded epoch: still falling, no transition"
    elif drop < min_drop:
        status, note = "small_drop", f"entropy falls by {drop:.0%} of its peak, less than min_drop {min_drop:g}: no transition"
    else:
        status, note = "transition", None
        out["transition_epoch"] = e[t]
        out["entropy_at_transition"] = float(s[t])
    out["transition_status"] = status
    if note:
        out["notes"].append(note)
    i, rate = largest_rate_interval(e, s, start, rate_smooth)
    if i is not None:
        out["max_rate_epoch"] = e[i + 1]
        out["max_rate"] = rate
    return out


def _no_transition_possible(
    e: np.ndarray, s: np.ndarray, initial_epochs: int | None
) -> tuple[str | None, str | None]:
    """``(status, why)`` when no transition can be looked for (too few epochs, flat), else ``(None, None)``."""
    if e.size < 3:
        return "too_few_epochs", f"only {e.size} observed epoch(s): need >= 3 for a transition"
    scale = max(1.0, float(np.max(np.abs(s))))
    if float(np.ptp(s)) <= 1e-10 * scale:
        return "flat", "entropy is constant over training: no transition"
    if initial_epochs is not None and not np.any(e >= initial_epochs):
        return "too_few_epochs", f"no observed epoch >= initial_epochs={initial_epochs}"
    return None, None


def initial_phase_end(e: np.ndarray, s: np.ndarray, initial_epochs: int | None) -> int:
    """Position of the first recorded epoch after the initial phase.

    Parameters
    ----------
    e, s
        Recorded epochs (increasing) and entropies.
    initial_epochs
        Explicit end: the first epoch ``>= initial_epochs`` (one must exist).
        ``None``: the first argmax of ``s`` within the first half of training (the
        entropy grows while the training set is fitted, then drops).

    Returns
    -------
    int
        Index into ``e``.
    """
    if initial_epochs is not None:
        return int(np.flatnonzero(e >= initial_epochs)[0])
    half = e[0] + (e[-1] - e[0]) / 2.0
    first_half = np.flatnonzero(e <= half)
    return int(first_half[np.argmax(s[first_half])])


def largest_rate_interval(
    e: np.ndarray, s: np.ndarray, start: int, rate_smooth: int
) -> tuple[int | None, float]:
    """The interval ``[e[i], e[i+1]]`` (``i >= start``) of the largest smoothed ``|dS/de|``.

    Intervals before ``start`` are left out so that the initial growth does not win.

    Returns
    -------
    tuple
        ``(i, signed smoothed rate)``, or ``(None, nan)`` when no interval starts at
        or after ``start``.
    """
    rate = np.diff(s) / np.diff(e)
    smooth = _moving_average(rate, rate_smooth)
    cand = np.arange(start, rate.size)
    if not cand.size:
        return None, _NAN
    i = int(cand[np.argmax(np.abs(smooth[cand]))])
    return i, float(smooth[i])


# --------------------------------------------------------------------------- accuracy


def find_jumps(
    epochs: Sequence[int] | np.ndarray,
    accuracy: Sequence[float] | np.ndarray,
    *,
    delta: float = 0.1,
    window: int = 5,
    plateau: int = 3,
) -> list[tuple[int, int]]:
    """All generalisation jumps as ``(onset_epoch, jump_epoch)`` pairs, left to right.

    See the module docstring for the definition (plateau of ``plateau`` epochs varying
    by less than ``delta/2``, then a rise of at least ``delta`` within ``window`` epochs).
    NaN accuracies break plateaus and cannot be jump targets.
    """
    e = np.asarray(epochs, dtype=np.int64)
    a = np.asarray(accuracy, dtype=float)
    pos = {int(x): i for i, x in enumerate(e)}
    tol = 1e-9  # accuracies are ratios of counts: 0.6 - 0.5 must count as a 0.1 rise

    def on_plateau(j: int) -> bool:
        idx = [pos.get(x) for x in range(int(e[j]) - plateau + 1, int(e[j]) + 1)]
        return None not in idx and bool(np.isfinite(a[idx]).all()) and np.ptp(a[idx]) < delta / 2

    jumps: list[tuple[int, int]] = []
    j = 0
    while j < e.size:
        ej = int(e[j])
        if on_plateau(j):
            ahead = np.flatnonzero((e > ej) & (e <= ej + window) & np.isfinite(a) & (a - a[j] >= delta - tol))
            if ahead.size:
                k = int(ahead[0])
                # Report the onset as the *last* plateau epoch before the rise to k (a step
                # at 30 after a long plateau has onset 29, not the first epoch within reach).
                while j + 1 < k and on_plateau(j + 1) and a[k] - a[j + 1] >= delta - tol:
                    j += 1
                jumps.append((int(e[j]), int(e[k])))
                j = k  # a new plateau has to form after this jump
                continue
        j += 1
    return jumps


def _first_reach(epochs: np.ndarray, values: np.ndarray, level: float) -> float:
    hit = np.flatnonzero(np.isfinite(values) & (values >= level - 1e-12))
    return float(epochs[hit[0]]) if hit.size else _NAN


def _column(history: pd.DataFrame, col: str, notes: list[str]) -> np.ndarray | None:
    if col not in history.columns or history[col].isna().all():
        notes.append(f"history has no {col}")
        return None
    return history[col].to_numpy(dtype=float)


# --------------------------------------------------------------------------- analysis


def analyze(
    history: pd.DataFrame,
    entanglement: pd.DataFrame,
    *,
    name: str | None = None,
    initial_epochs: int | None = None,
    delta: float = 0.1,
    window: int = 5,
    plateau: int = 3,
    saturation: float = 0.99,
    rate_smooth: int = 3,
    min_drop: float = 0.5,
    control_entanglement: pd.DataFrame | None = None,
) -> dict[str, object]:
    """Grokking summary of one training run (one output row, without an id column).

    Parameters
    ----------
    history
        ``history.tsv`` as returned by :func:`mpsomics.dynamics.training_run.load_history`.
    entanglement
        ``entanglement.tsv`` as returned by :func:`mpsomics.dynamics.training_run.load_entanglement`.
    name
        Name of the run in log messages only; the caller adds its own id columns
        (the HCC pipeline ``community``, the Fashion-MNIST experiment ``task`` and
        ``seed``).
    initial_epochs, rate_smooth
        See :func:`entropy_transition`.
    delta, window, plateau
        See :func:`find_jumps`.
    saturation
        Train balanced accuracy at which the train set counts as fitted.
    min_drop
        See :func:`entropy_transition`.
    control_entanglement
        Entropies of the label-permutation controls (``control``, ``epoch``, ``label``,
        ``bond``, ``entropy``; :func:`mpsomics.dynamics.training_run.load_control_entanglement`),
        or ``None``: the control columns are then empty.

    Returns
    -------
    dict
        The columns of the grokking TSV after its id column (see the module
        docstring): NaN for undefined epochs/values, ``None`` for an undefined
        ``grokking``; ``notes`` is a "; "-joined explanation of every undefined
        value (each note is also logged as a warning).
    """
    notes: list[str] = []
    # Train-state entropies only: no test data enter the transition.
    transition, per_label, n_observed = entanglement_columns(
        entanglement, initial_epochs=initial_epochs, rate_smooth=rate_smooth, notes=notes,
        min_drop=min_drop,
    )
    controls = control_columns(
        transition, control_entanglement, initial_epochs=initial_epochs, rate_smooth=rate_smooth,
        min_drop=min_drop,
    )
    # The test metric is described here, never used for selection.
    jump = jump_columns(
        history, delta=delta, window=window, plateau=plateau, saturation=saturation, notes=notes
    )
    t, j = transition["transition_epoch"], jump["jump_epoch"]
    row: dict[str, object] = {
        "transition_epoch": t,
        "max_rate_epoch": transition["max_rate_epoch"],
        "jump_epoch": j,
        "train_saturated_epoch": jump["train_saturated_epoch"],
        "grokking": jump["grokking"],
        "lag": j - t if not (_is_nan(j) or _is_nan(t)) else _NAN,
        "final_test_balanced_accuracy": jump["final_test_balanced_accuracy"],
        "final_train_balanced_accuracy": jump["final_train_balanced_accuracy"],
        "best_train_epoch": jump["best_train_epoch"],
        "transition_status": transition["transition_status"],
        "entropy_drop": transition["entropy_drop"],
        "min_entropy_epoch": transition["min_entropy_epoch"],
        **controls,
        "initial_phase_end_epoch": transition["initial_phase_end_epoch"],
        "entropy_at_transition": transition["entropy_at_transition"],
        "max_rate": transition["max_rate"],
        "plateau_end_epoch": jump["plateau_end_epoch"],
        "first_jump_epoch": jump["first_jump_epoch"],
        "n_jumps": jump["n_jumps"],
        "n_epochs": jump["n_epochs"],
        "n_observed_epochs": n_observed,
        **per_label,
        "initial_epochs": _NAN if initial_epochs is None else initial_epochs,
        "delta": delta,
        "window": window,
        "plateau": plateau,
        "saturation": saturation,
        "rate_smooth": rate_smooth,
        "min_drop": min_drop,
        "notes": "; ".join(notes),
    }
    for n in notes:
        log.warning("%s: %s", name or "grokking", n)
    return row


def control_columns(
    transition: dict[str, object],
    control_entanglement: pd.DataFrame | None,
    *,
    initial_epochs: int | None,
    rate_smooth: int,
    min_drop: float,
) -> dict[str, object]:
    """The real run's transition against its label-permutation controls (module docstring).

    Returns
    -------
    dict
        ``n_controls``, ``control_transitions``, ``control_max_drop``, ``control_p``,
        ``beats_control``: False without a transition, ``None`` (undefined) for a
        transition without controls.
    """
    has_transition = transition["transition_status"] == "transition"
    out: dict[str, object] = {
        "n_controls": 0, "control_transitions": _NAN, "control_max_drop": _NAN, "control_p": _NAN,
        # without a transition there is nothing to beat; with one but no controls: undefined
        "beats_control": None if has_transition else False,
    }
    if control_entanglement is None or control_entanglement.empty:
        return out
    drops, statuses = [], []
    for _, grp in control_entanglement.groupby("control", sort=True):
        wide = total_entropy(grp.drop(columns="control"))
        res = entropy_transition(
            wide.index.to_numpy(), wide["total"].to_numpy(), initial_epochs=initial_epochs,
            rate_smooth=rate_smooth, min_drop=min_drop,
        )
        d = res["entropy_drop"]
        drops.append(0.0 if _is_nan(d) else float(d))
        statuses.append(res["transition_status"])
    real = transition["entropy_drop"]
    real = 0.0 if _is_nan(real) else float(real)
    drops_arr = np.asarray(drops)
    out.update(
        n_controls=len(drops),
        control_transitions=int(sum(st == "transition" for st in statuses)),
        control_max_drop=float(drops_arr.max()),
        control_p=float((1 + np.sum(drops_arr >= real)) / (len(drops) + 1)),
        beats_control=bool(has_transition and real > drops_arr.max()),
    )
    return out


def entanglement_columns(
    entanglement: pd.DataFrame,
    *,
    initial_epochs: int | None,
    rate_smooth: int,
    notes: list[str],
    min_drop: float = 0.5,
) -> tuple[dict[str, object], dict[str, float], int]:
    """The transition of ``S_total`` and of each label's ``S_ℓ``.

    Parameters
    ----------
    entanglement
        ``entanglement.tsv`` rows.
    initial_epochs, rate_smooth
        See :func:`entropy_transition`.
    notes
        Receives the notes, prefixed ``S_total:`` or ``S_<label>:``.

    Returns
    -------
    tuple
        ``(total, per_label, n_observed_epochs)``: :func:`entropy_transition` of
        ``S_total`` (without notes), ``transition_epoch_<label>`` and
        ``max_rate_epoch_<label>`` per label, and the number of complete epochs.
    """
    wide = total_entropy(entanglement)
    ep = wide.index.to_numpy()
    total = entropy_transition(
        ep, wide["total"].to_numpy(), initial_epochs=initial_epochs, rate_smooth=rate_smooth,
        min_drop=min_drop,
    )
    notes += [f"S_total: {n}" for n in total.pop("notes")]
    per_label: dict[str, float] = {}
    for lab in (c for c in wide.columns if c != "total"):
        res = entropy_transition(
            ep, wide[lab].to_numpy(), initial_epochs=initial_epochs, rate_smooth=rate_smooth,
            min_drop=min_drop,
        )
        notes += [f"S_{lab}: {n}" for n in res["notes"]]
        per_label[f"transition_epoch_{lab}"] = res["transition_epoch"]
        per_label[f"max_rate_epoch_{lab}"] = res["max_rate_epoch"]
    return total, per_label, int(ep.size)


def jump_columns(
    history: pd.DataFrame,
    *,
    delta: float,
    window: int,
    plateau: int,
    saturation: float,
    notes: list[str],
) -> dict[str, object]:
    """Generalisation jump, train saturation and final accuracies from the history.

    Parameters
    ----------
    history
        ``history.tsv`` rows.
    delta, window, plateau
        See :func:`find_jumps`.
    saturation
        Train balanced accuracy at which the train set counts as fitted.
    notes
        Receives a note for every missing metric or unreached saturation.

    Returns
    -------
    dict
        ``jump_epoch``, ``plateau_end_epoch``, ``first_jump_epoch``, ``n_jumps``,
        ``grokking``, ``train_saturated_epoch``, ``best_train_epoch``,
        ``final_test_balanced_accuracy``, ``final_train_balanced_accuracy`` and
        ``n_epochs`` (see the module docstring).
    """
    hist = history.sort_values("epoch")
    he = hist["epoch"].to_numpy(dtype=np.int64)
    train = _column(hist, "train_balanced_accuracy", notes)
    test = _column(hist, "test_balanced_accuracy", notes)
    saturated = _first_reach(he, train, saturation) if train is not None else _NAN
    if train is not None and _is_nan(saturated):
        notes.append(f"train balanced accuracy never reaches {saturation}")
    jumps = find_jumps(he, test, delta=delta, window=window, plateau=plateau) if test is not None else []
    onset, jump, first_jump, grokking = _delayed_jump(jumps, saturated, has_train=train is not None, has_test=test is not None)
    best_train = _NAN
    if train is not None and np.isfinite(train).any():
        best_train = float(he[int(np.nanargmax(train))])
    return {
        "jump_epoch": jump,
        "plateau_end_epoch": onset,
        "first_jump_epoch": first_jump,
        "n_jumps": len(jumps) if test is not None else _NAN,
        "grokking": grokking,
        "train_saturated_epoch": saturated,
        "best_train_epoch": best_train,
        "final_test_balanced_accuracy": float(test[-1]) if test is not None else _NAN,
        "final_train_balanced_accuracy": float(train[-1]) if train is not None else _NAN,
        "n_epochs": int(he.size),
    }


def _delayed_jump(
    jumps: list[tuple[int, int]], saturated: float, *, has_train: bool, has_test: bool
) -> tuple[float, float, float, bool | None]:
    """``(onset, jump, first_jump, grokking)``: the first jump after train saturation, if any.

    Without such a jump the first jump at all is reported and ``grokking`` is False;
    ``grokking`` is ``None`` (undefined) when a metric it needs is missing.
    """
    if not has_test:
        return _NAN, _NAN, _NAN, None
    if not jumps:
        return _NAN, _NAN, _NAN, False
    late = [jp for jp in jumps if not _is_nan(saturated) and jp[0] >= saturated]
    onset, jump = map(float, (late or jumps)[0])
    return onset, jump, float(jumps[0][1]), (bool(late) if has_train else None)


# --------------------------------------------------------------------------- files


def to_frame(rows: Sequence[dict[str, object]]) -> pd.DataFrame:
    """Rows of :func:`analyze` as a DataFrame with nullable integer epoch columns."""
    df = pd.DataFrame(list(rows))
    for col in df.columns:
        if col in _INT_COLUMNS or col.startswith(_INT_PREFIXES):
            df[col] = pd.to_numeric(df[col], errors="coerce").round().astype("Int64")
    for col in ("grokking", "beats_control"):
        if col in df.columns:
            df[col] = df[col].astype("boolean")
    return df


def write_tsv(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write ``df`` as TSV atomically; missing values are empty cells."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", index=False, na_rep="")


def load_grokking(path: str | os.PathLike) -> dict[str, object]:
    """Read one ``results/grokking/{community}.tsv`` row.

    Returns
    -------
    dict of the row; the epoch and count columns (``transition_epoch``, ``jump_epoch``,
    ``lag``, ...) are ``int`` or ``None`` (empty cell); an infinite or fractional value
    there is an :class:`InputError` naming the column and the file.
    """
    df = read_rows(path)
    if len(df) != 1:
        raise InputError(path, f"expected exactly one data row, found {len(df)}")
    row = df.iloc[0].to_dict()
    for col in _int_columns(df.columns):
        v = row[col]
        row[col] = None if pd.isna(v) else int(v)
    return row


def _int_columns(columns: Sequence[str]) -> list[str]:
    """The integer (epoch / count) columns among ``columns``."""
    return [c for c in columns if c in _INT_COLUMNS or str(c).startswith(_INT_PREFIXES)]


def read_rows(path: str | os.PathLike) -> pd.DataFrame:
    """Read a grokking TSV (per community or summary) with :func:`~mpsomics.core.readers.read_tsv`.

    Every epoch / count column present (:data:`_INT_COLUMNS`, ``transition_epoch*``,
    ``max_rate_epoch*``) must hold integers or be empty.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "missing file (run `mpsomics grokking` first)")
    content = read_text(path, what="tab-separated table", strict=True, allow_empty=True)
    first = next(iter(ln for ln in content.split("\n") if ln.strip()), "")
    header = next(csv.reader([first], delimiter="\t"), [])
    return read_tsv(
        path, ("community", "transition_epoch"), integer=_int_columns(header),
        text=("community",), complete=("community",), content=content,
    )


def summarize(paths: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """Concatenate per-community grokking TSVs (input order kept, union of columns)."""
    frames = []
    for p in paths:
        df = read_rows(p)
        if len(df) != 1:
            raise InputError(p, f"expected exactly one data row, found {len(df)}")
        frames.append(df)
    out = pd.concat(frames, ignore_index=True, sort=False)
    dup = out["community"].duplicated()
    if dup.any():
        raise InputError(None, f"community {out['community'][dup].iloc[0]!r} appears in more than one input")
    return to_frame(out.to_dict("records"))[_ordered(out.columns)]


def _ordered(columns: Sequence[str]) -> list[str]:
    """Contract columns first, then extras, per-label columns, parameters, notes."""
    cols = list(columns)
    head = [c for c in MAIN_COLUMNS + EXTRA_COLUMNS if c in cols]
    labelled = [c for c in cols if c.startswith(_INT_PREFIXES) and c not in head]
    params = [c for c in PARAM_COLUMNS if c in cols]
    tail = [c for c in cols if c not in head + labelled + params + ["notes"]]
    return head + labelled + tail + params + (["notes"] if "notes" in cols else [])


def result_frame(row: dict[str, object]) -> pd.DataFrame:
    """One :func:`analyze` row as the DataFrame written to ``{community}.tsv``."""
    df = to_frame([row])
    return df[_ordered(df.columns)]

"""Training checkpoints: resume a killed or diverged ``mpsomics train`` bit-identically.

Where
-----
``mpsomics train --out results/mps/c01`` keeps its checkpoint in the single file
``results/mps/c01.checkpoint.pt``, a *sibling* of the output directory
(:func:`default_checkpoint_path`; ``--checkpoint-path`` overrides it). It is not a
declared Snakemake output, so Snakemake neither treats it as a result nor deletes it
when it reruns the failed job, and it is not inside the output directory, which is
only created (atomically, as a whole) when training has finished. The file is
written every ``checkpoint_every`` epochs (``TrainConfig.checkpoint_every``,
``--checkpoint-every K``, default 10, 0 = off; never after the last epoch) by
writing a temporary file in the same directory and renaming it over the old one
(:func:`mpsomics.core.files.atomic_path`), so a kill during the write leaves the previous
checkpoint intact. It is deleted once the outputs have been written successfully.
When training diverges (NaN/inf) the last good checkpoint is kept and the error
message names it.

What
----
One pickle-free ``.npz`` archive (:func:`save`, :func:`read`): a JSON skeleton of
nested dicts, lists, numbers and strings whose arrays (NumPy arrays and, for the
gradient trainer, torch tensors, with their exact bits) are members of the archive.
Writing and reading a sweep checkpoint never imports torch. It holds

* ``version``, ``fingerprint`` (below), ``epoch`` (the last completed epoch E);
* ``trainer``: the trainer's complete state after epoch E. Sweep: the site tensors,
  the label site and the cached per-sample left/right environments (stored, not
  recomputed: recomputing them from the tensors may differ in the last bit).
  Gradient: the parameters, the Adam state, the EMA tensors, the step counter of the
  learning-rate schedule and the states of the minibatch ``torch.Generator`` and of
  torch's global generator;
* ``fit``: the history rows of epochs 0..E, the observations and singular values
  recorded so far, and the validation / early-stopping bookkeeping (best epoch,
  score, epochs since improvement, best model).

Resuming continues from epoch E + 1; the outputs are identical to those of an
uninterrupted run with the same arguments and thread count (except the measured
``seconds`` column of ``history.tsv``).

Fingerprint (when a checkpoint is used)
---------------------------------------
A checkpoint is only resumed when its fingerprint equals the current run's; otherwise
(or when the file is unreadable or truncated) a warning is logged, it is ignored and
overwritten by the next checkpoint. The fingerprint is a SHA-256 of

* the inputs: training and test matrices and labels (exact bytes), gene names (site
  order), class names, the positive class, ``observe_every``;
* every :class:`~mpsomics.mps.config.TrainConfig` field **except** ``epochs``,
  ``lr`` and ``checkpoint_every`` (:data:`EXCLUDED_FIELDS`). That is: ``method``,
  ``bond_dim``, ``batch_size``, ``loss``, ``class_weights``, ``cutoff``,
  ``init_bond_dim``, ``seed``, ``dtype``, ``threads``, ``site_sparsity``,
  ``identity_l2``, ``born_smoothing``, ``ema_decay``, ``lr_schedule``,
  ``validation_fraction``, ``early_stopping``, ``patience``. With
  ``method="gradient"`` and ``lr_schedule="cosine"`` ``epochs`` *is* included (the
  schedule depends on the total number of steps).

So ``--epochs`` may be raised on resume (training continues to the new total; a
checkpoint at or past the new total is ignored), and ``--lr`` may be changed, e.g. lowered
after a divergence: training then continues from the checkpoint with the new rate
(``run_info.json`` records ``resumed_from_epoch``, ``checkpoint`` and
``checkpoint_lr``, the learning rate the checkpoint was trained with). A run resumed with a different ``lr`` is of course not identical to an
uninterrupted run with either rate.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from mpsomics.core.files import atomic_path
from mpsomics.mps.config import TrainConfig

log = logging.getLogger(__name__)

#: Format version of the checkpoint file.
VERSION = 2

#: TrainConfig fields that are not part of the fingerprint.
EXCLUDED_FIELDS = ("epochs", "lr", "checkpoint_every")


def default_checkpoint_path(out: str | Path) -> Path:
    """``results/mps/c01`` -> ``results/mps/c01.checkpoint.pt`` (a sibling of the output dir)."""
    out = Path(out)
    return out.parent / f"{out.name}.checkpoint.pt"


def fingerprint_fields(config: TrainConfig) -> dict:
    """The TrainConfig fields that must match for a checkpoint to be resumed."""
    d = config.to_dict()
    for k in EXCLUDED_FIELDS:
        d.pop(k, None)
    if config.method == "gradient" and config.lr_schedule == "cosine":
        d["epochs"] = int(config.epochs)
    return d


def fingerprint(
    config: TrainConfig,
    arrays: list[np.ndarray],
    *,
    genes: list[str],
    classes: list[str],
    extra: dict | None = None,
) -> str:
    """SHA-256 over the exact bytes of ``arrays``, the names and :func:`fingerprint_fields`."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    meta = {
        "genes": list(map(str, genes)),
        "classes": list(map(str, classes)),
        "config": fingerprint_fields(config),
        "extra": extra or {},
    }
    h.update(json.dumps(meta, sort_keys=True, default=str).encode())
    return h.hexdigest()


# ------------------------------------------------------------ encoding
def _is_torch_tensor(obj: Any) -> bool:
    # checked by type name so that the sweep path never imports torch
    return type(obj).__module__.startswith("torch") and hasattr(obj, "detach")


def to_saveable(obj: Any) -> Any:
    """A snapshot of ``obj``: arrays copied, NumPy scalars as Python numbers.

    Nested dicts (any hashable JSON-able keys), lists/tuples, ``None``, bools, numbers,
    strings, NumPy arrays and torch tensors (gradient trainer state) can be saved.
    """
    if isinstance(obj, np.ndarray):
        return np.array(obj, copy=True, order="K")
    if _is_torch_tensor(obj):
        return obj.detach().clone()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {k: to_saveable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_saveable(v) for v in obj]
    return obj


def to_numpy(obj: Any) -> Any:
    """Recursively turn torch tensors (if any) into NumPy arrays."""
    if _is_torch_tensor(obj):
        return obj.detach().cpu().numpy()
    if isinstance(obj, dict):
        return {k: to_numpy(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_numpy(v) for v in obj]
    return obj


def _encode(obj: Any, arrays: list[np.ndarray]) -> Any:
    if isinstance(obj, np.ndarray):
        arrays.append(obj)
        return {"__a": len(arrays) - 1}
    if _is_torch_tensor(obj):
        arrays.append(obj.detach().cpu().numpy())
        return {"__t": len(arrays) - 1}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {"__d": [[k, _encode(v, arrays)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        if _packable(obj):  # many small arrays (per-epoch records): one archive member
            arrays.append(np.concatenate([a.ravel() for a in obj]))
            return {"__l": len(arrays) - 1, "shapes": [list(a.shape) for a in obj]}
        return [_encode(v, arrays) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} in a checkpoint")


def _packable(items) -> bool:
    if len(items) < 2 or not all(isinstance(a, np.ndarray) for a in items):
        return False
    dtype = items[0].dtype
    return dtype.kind in "biufc" and all(a.dtype == dtype for a in items)


def _decode(obj: Any, arrays) -> Any:
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    if isinstance(obj, dict):
        if "__a" in obj:
            return np.array(arrays[f"a{obj['__a']}"])
        if "__l" in obj:
            flat = np.asarray(arrays[f"a{obj['__l']}"])
            out, start = [], 0
            for shape in obj["shapes"]:
                size = int(np.prod(shape, dtype=np.int64))
                out.append(flat[start : start + size].reshape(shape).copy())
                start += size
            return out
        if "__t" in obj:
            import torch  # only gradient checkpoints hold tensors

            return torch.from_numpy(np.array(arrays[f"a{obj['__t']}"]))
        return {k: _decode(v, arrays) for k, v in obj["__d"]}
    return obj


def _write(fh, arrays: dict[str, np.ndarray]) -> None:
    np.savez(fh, **arrays)


# ----------------------------------------------------------------- read/write
def save(path: str | Path, payload: dict) -> None:
    """Write ``payload`` atomically to ``path``: a pickle-free ``.npz`` (JSON skeleton + arrays)."""
    arrays: list[np.ndarray] = []
    skeleton = json.dumps(_encode(payload, arrays))
    named = {f"a{i}": a for i, a in enumerate(arrays)}
    named["skeleton"] = np.asarray(skeleton)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            _write(fh, named)
            fh.flush()
            try:
                os.fsync(fh.fileno())
            except OSError:  # pragma: no cover - e.g. some network file systems
                pass


def read(path: str | Path) -> dict:
    """The payload stored at ``path`` (raises on unreadable files)."""
    with np.load(path, allow_pickle=False) as z:
        return _decode(json.loads(str(z["skeleton"])), z)


def load(path: str | Path, *, expected_fingerprint: str, max_epoch: int) -> dict | None:
    """The checkpoint at ``path`` if it exists, is readable and belongs to this run; else None.

    Unreadable/truncated files, other format versions, fingerprint mismatches and
    checkpoints at or past ``max_epoch`` are ignored with a warning (the next checkpoint
    write replaces them).
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        ckpt = read(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is ignored
        log.warning(
            "ignoring unreadable checkpoint %s (truncated or not a checkpoint: %s); "
            "training starts from scratch and will replace it",
            path,
            type(exc).__name__,
        )
        return None
    if not isinstance(ckpt, dict) or ckpt.get("version") != VERSION:
        log.warning("ignoring checkpoint %s: unknown format; training starts from scratch", path)
        return None
    if ckpt.get("fingerprint") != expected_fingerprint:
        log.warning(
            "ignoring checkpoint %s: it was written for different inputs or settings "
            "(fingerprint mismatch); training starts from scratch and will replace it",
            path,
        )
        return None
    epoch = int(ckpt.get("epoch", -1))
    if not 0 <= epoch < max_epoch:
        log.warning(
            "ignoring checkpoint %s: it is at epoch %d, at or past the requested %d epochs",
            path,
            epoch,
            max_epoch,
        )
        return None
    return ckpt


def remove(path: str | Path | None) -> None:
    """Delete the checkpoint and temporaries of interrupted writes (after a successful run)."""
    if path is None:
        return
    path = Path(path)
    path.unlink(missing_ok=True)
    # temporaries of atomic_path: ".{stem}.XXXXXXXX{suffixes}", left by a kill mid-write
    for tmp in path.parent.glob(f".{path.stem}.*{''.join(path.suffixes)}"):
        tmp.unlink(missing_ok=True)

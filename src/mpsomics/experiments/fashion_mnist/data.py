"""Fashion-MNIST for the paper's grokking experiment: IDX loader, 6x6 images, binary tasks.

Pomarico et al. 2025 (arXiv:2503.10483) first show grokking as an entanglement
transition on Fashion-MNIST: images downsampled to 6 x 6 = 36 pixels, unrolled row by
row from the top, one pixel = one qubit with the feature map cos/sin(pi x / 2) of the
[0, 1] intensity; binary tasks sneaker (label 1) versus one other class (label 0), about
60 images per label split in half for training and testing.

Conventions
-----------
* **IDX files** (LeCun's format, optionally gzipped): a big-endian 4-byte magic
  ``0x00 0x00 <type> <ndim>`` (type 0x08 = unsigned byte), ``ndim`` big-endian int32
  dimensions, then the data in C order. :func:`read_idx` parses them with NumPy only.
* **Downsampling** (:func:`downsample`): exact area averaging ("box filter" with
  fractional pixel overlaps, the same as OpenCV's ``INTER_AREA`` and PIL's ``BOX``
  filter). 28 is not a multiple of 6, so output pixel ``i`` averages input rows
  ``[i * 28/6, (i + 1) * 28/6)``, border pixels weighted by their overlap. It is the
  linear map ``A X A^T`` with a (6, 28) row-stochastic matrix ``A``; intensities are
  divided by 255, so values lie in [0, 1] and the mean intensity is preserved.
* **Site order**: pixel (r, c) of the 6 x 6 image is site ``6 r + c`` (row by row
  from the top), named ``p{r}_{c}``.
* **Tasks** (:func:`task_split`): ``sneaker`` (class 7) is label 1, the other class
  label 0; ``n_per_label`` images of each class are drawn without replacement and split
  in half per label (stratified) into train and test. The *control* task draws
  ``2 n_per_label`` distinct sneakers and labels half of them 0 at random: no rule can
  tell the labels apart, so test accuracy must stay at chance.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mpsomics.core.errors import InputError

#: Fashion-MNIST class names in label order (0..9).
CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
SNEAKER = 7
#: short task names (file and wildcard friendly) per class
SHORT = ("tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot")

IMAGES_FILE = "t10k-images-idx3-ubyte.gz"
LABELS_FILE = "t10k-labels-idx1-ubyte.gz"
#: md5 of the bundled files (published in the zalandoresearch/fashion-mnist README)
MD5 = {
    IMAGES_FILE: "bef4ecab320f06d8554ea6380940ec79",
    LABELS_FILE: "bb300cfdad3c16e7a12a480ee83cd310",
}

_IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzipped when it starts with the gzip magic).

    Returns
    -------
    ndarray with the file's dimensions and element type (native byte order).

    Raises
    ------
    InputError
        Missing file, bad gzip stream, unknown magic or type, or a size that does not
        match the header.
    """
    from mpsomics.core.readers import read_bytes

    path = Path(path)
    raw = read_bytes(path)  # missing file, directory: the project's messages; pipes work
    if not raw:
        raise InputError(path, "empty file, expected an IDX file (Fashion-MNIST images or labels)")
    try:
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputError(path, f"cannot decompress ({type(exc).__name__}: {exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise InputError(path, "not an IDX file (magic must start with two zero bytes)")
    dtype = _IDX_TYPES.get(raw[2])
    if dtype is None:
        raise InputError(path, f"unknown IDX element type 0x{raw[2]:02x}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise InputError(path, f"truncated IDX header ({ndim} dimensions)")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise InputError(path, f"IDX header says {shape} ({expected} bytes of data) but the file has {len(raw) - header}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def load(data_dir: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, 28, 28) uint8 and labels (n,) int64 of the bundled test set in ``data_dir``."""
    data_dir = Path(data_dir)
    check_data_dir(data_dir)
    return load_files(data_dir / IMAGES_FILE, data_dir / LABELS_FILE)


def check_data_dir(data_dir: str | os.PathLike, option: str = "--data") -> None:
    """InputError unless ``data_dir`` is a folder holding both IDX files (named in the message)."""
    data_dir = Path(data_dir)
    if not data_dir.exists():
        raise InputError(data_dir, f"{option}: folder not found")
    if not data_dir.is_dir():
        raise InputError(data_dir, f"{option}: is a file; give the folder with {IMAGES_FILE} and {LABELS_FILE}")
    missing = [n for n in (IMAGES_FILE, LABELS_FILE) if not (data_dir / n).exists()]
    if missing:
        raise InputError(data_dir, f"{option}: the folder has no {' and no '.join(missing)} "
                         "(the Fashion-MNIST test set, as in data/fashion_mnist)")


def load_files(images_path: str | os.PathLike, labels_path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, rows, cols) uint8 and labels (n,) int64 from two IDX files."""
    images_path, labels_path = Path(images_path), Path(labels_path)
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise InputError(images_path, f"expected (n, rows, cols) unsigned bytes, got {images.shape} {images.dtype}")
    if labels.ndim != 1:
        raise InputError(labels_path, f"expected a 1-D label array, got shape {labels.shape}")
    if len(labels) != len(images):
        raise InputError(labels_path, f"{len(labels)} labels for {len(images)} images")
    if labels.size and (labels.min() < 0 or labels.max() >= len(CLASSES)):
        raise InputError(labels_path, f"labels outside 0..{len(CLASSES) - 1}")
    return images, labels.astype(np.int64)


def area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) row-stochastic weights of exact area averaging from n_in to n_out pixels."""
    if not 1 <= n_out <= n_in:
        raise ValueError(f"cannot downsample {n_in} pixels to {n_out}")
    edges = np.arange(n_out + 1) * (n_in / n_out)
    lo, hi = edges[:-1, None], edges[1:, None]
    pix = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(hi, pix + 1) - np.maximum(lo, pix), 0.0, None)
    return overlap / (n_in / n_out)


def downsample(images: np.ndarray, size: int = 6) -> np.ndarray:
    """Area-average (n, H, W) uint8 images to (n, size, size) floats in [0, 1]."""
    images = np.asarray(images, dtype=np.float64) / 255.0
    a_r = area_matrix(images.shape[1], size)
    a_c = area_matrix(images.shape[2], size)
    out = np.einsum("ir,nrc,jc->nij", a_r, images, a_c, optimize=True)
    return np.clip(out, 0.0, 1.0)


def pixel_names(size: int = 6) -> list[str]:
    """Site names ``p{row}_{col}`` in the row-by-row unrolling order."""
    return [f"p{r}_{c}" for r in range(size) for c in range(size)]


def features(images: np.ndarray, size: int = 6) -> np.ndarray:
    """(n, size * size) pixel intensities in [0, 1], unrolled row by row from the top."""
    return downsample(images, size).reshape(len(images), size * size)


@dataclass
class Task:
    """One binary task: sneaker (label 1) against ``other`` (label 0)."""

    other: int

    @property
    def name(self) -> str:
        return f"sneaker_vs_{SHORT[self.other]}"

    @property
    def control(self) -> bool:
        return self.other == SNEAKER

    @property
    def classes(self) -> list[str]:
        """Label names in label order (0, 1)."""
        if self.control:
            return ["sneaker_a", "sneaker_b"]
        return [SHORT[self.other], "sneaker"]


def all_tasks() -> list[Task]:
    """The 9 sneaker-vs-X tasks in class order, then the sneaker-vs-sneaker control."""
    return [Task(c) for c in range(len(CLASSES)) if c != SNEAKER] + [Task(SNEAKER)]


def task_by_name(name: str) -> Task:
    for t in all_tasks():
        if t.name == name:
            return t
    known = ", ".join(t.name for t in all_tasks())
    raise InputError(None, f"unknown Fashion-MNIST task {name!r}; known: {known}")


def task_split(
    labels: np.ndarray, task: Task, *, n_per_label: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Indices and labels of one task's train and test images.

    ``n_per_label`` images per label are drawn without replacement with
    ``numpy.random.default_rng([seed, task.other])`` and split per label into
    ``ceil(n/2)`` train and ``floor(n/2)`` test images.

    Returns
    -------
    (train_idx, y_train, test_idx, y_test) with 0/1 labels (1 = sneaker, or
    ``sneaker_b`` in the control).
    """
    labels = np.asarray(labels)
    if n_per_label < 2:
        raise InputError(None, f"--n-per-label: must be >= 2 (one train and one test image per label), got {n_per_label}")
    rng = np.random.default_rng([int(seed), int(task.other)])
    sneakers = np.flatnonzero(labels == SNEAKER)
    if task.control:
        need = 2 * n_per_label
        if len(sneakers) < need:
            raise InputError(
                None, f"--n-per-label {n_per_label}: {task.name} needs {need} sneaker images, the data have {len(sneakers)}"
            )
        drawn = rng.choice(sneakers, size=need, replace=False)
        groups = {0: drawn[:n_per_label], 1: drawn[n_per_label:]}
    else:
        others = np.flatnonzero(labels == task.other)
        for name, pool in (("sneaker", sneakers), (SHORT[task.other], others)):
            if len(pool) < n_per_label:
                raise InputError(
                    None, f"--n-per-label {n_per_label}: {task.name} needs {n_per_label} {name} images, "
                    f"the data have {len(pool)}",
                )
        groups = {
            0: rng.choice(others, size=n_per_label, replace=False),
            1: rng.choice(sneakers, size=n_per_label, replace=False),
        }
    n_train = (n_per_label + 1) // 2
    tr_idx, tr_y, te_idx, te_y = [], [], [], []
    for lab, idx in groups.items():
        tr_idx.append(idx[:n_train])
        te_idx.append(idx[n_train:])
        tr_y.append(np.full(n_train, lab))
        te_y.append(np.full(len(idx) - n_train, lab))
    return (
        np.concatenate(tr_idx),
        np.concatenate(tr_y).astype(np.int64),
        np.concatenate(te_idx),
        np.concatenate(te_y).astype(np.int64),
    )

"""The ``prepare`` stage: validate, transform, split and scale an expression matrix.

Output contract: ``docs/outputs.md`` ("prepare"). Library API (scanpy style)::

    expr = read_expression("expr.tsv.gz")            # samples x genes DataFrame
    sheet = read_sample_sheet("labels.tsv")          # index sample id; label, group
    adata = prepare(expr, sheet, positive_label="tumor")

Pipeline, in this order
-----------------------
1. **Match samples** between matrix and sheet. Errors: matrix looks transposed
   (more sheet ids among the genes than among the samples), duplicated sample
   ids, samples of the matrix missing from the sheet, samples of the sheet missing
   from the matrix (strict both ways; the first 5 are listed with a count; if no
   id matches at all, example ids of both files are shown: wrong ``--sample-col``?).
   Sheet: a missing ``group_col`` is an error unless it is ``"none"`` (each sample
   its own group, warning); empty or NA labels and empty groups are errors, and
   so are class labels containing ``/`` (they are h5ad keys in ``.uns``).
2. **Labels** (whitespace already stripped). Errors: labels that differ only by
   case (``Tumor`` vs ``tumor`` - never merged silently), fewer than two classes,
   more than two classes (even with ``positive_label``: a typo class such as
   ``tumour`` must not disappear) unless ``merge_other_classes=True``, which
   merges every non-positive class into a negative class named ``"other"`` with a
   warning; ``positive_label`` not among the classes; a class with fewer than
   ``min_samples_per_class`` samples. ``positive_label=None`` with exactly two
   classes takes the alphabetically last one as positive (warning).
3. **Split** (:func:`grouped_split`): patient-grouped, stratified; the first fold
   of ``StratifiedGroupKFold(n_splits=max(2, round(1/test_fraction)), shuffle=True,
   random_state=seed)`` in which every class has samples in both train and test
   (later folds are tried, in order, only if the first lacks a class; a class
   seen in a single patient is an error).
   Split before any value-dependent step so that NaN imputation and scaling are
   fitted on train samples only.
4. **Scale detection** (``scale="auto"``): the data are *linear* if the maximum
   finite value is > 50 (no log2 expression reaches 2**50), or if every value is
   a non-negative integer and the maximum is > 1 (counts); otherwise *log*.
   Linear data are transformed with ``log2(x + 1)``; negative values are then an
   error naming the gene and sample. ``scale="linear" | "log"`` overrides.
   ``values`` (``auto`` | ``counts`` | ``log`` | ``linear``) comes first: counts
   (given, or detected when ``values`` and ``scale`` are both ``auto``: non-negative
   integers, or featureCounts/salmon/kallisto input) become log2(CPM + 1) with the
   library size = each sample's sum over every gene read (scanpy ``normalize_total``
   + ``log1p(base=2)``); ``values="auto"`` with an explicit ``scale`` is the rule above.
   **Gene ids** (``gene_ids``, ``gene_map``; :mod:`~mpsomics.omics.prepare.geneids`)
   are then mapped to symbols; unmapped ids are dropped, shared symbols collapse in 6.
5. **NaN** (after the log transform): ``drop_gene`` drops every gene with a NaN;
   ``impute_median`` fills NaN with the gene's **train** median (genes without a
   finite train value are dropped). Counts are logged.
6. **Duplicated gene symbols** (after Excel-date repair, on the log scale):
   ``most_variable`` (default) keeps the duplicate row with the largest variance
   across samples, ``max`` keeps the row with the largest mean (the rule used to
   build the bundled TCGA matrix), ``first`` the first occurrence, and ``mean``
   averages the rows element-wise.
7. **Gene filters** (on **train** samples only, so test samples never influence
   which genes are kept): keep genes whose log value is ``>= min_expression`` in
   at least ``min_fraction`` of the train samples, then drop genes with zero
   variance on the train samples. Duplicate aggregation (step 6) likewise picks
   the row on train samples.
8. **Min-max scaling** (:func:`minmax_fit_transform`) per gene, fitted on train
   samples; test values clipped to [0, 1].

Modules, in the order of the data
---------------------------------
:mod:`~mpsomics.omics.prepare.reading` (the two input files) with
:mod:`~mpsomics.omics.prepare.formats` (featureCounts, salmon, kallisto, GEO series
matrix, ``.h5ad`` ``.obs`` as the sheet) and :mod:`~mpsomics.omics.prepare.clinical`
(labels from a per-patient table),
:mod:`~mpsomics.omics.prepare.matching` (steps 1-2),
:mod:`~mpsomics.omics.prepare.splitting` (step 3),
:mod:`~mpsomics.omics.prepare.transforming` (steps 4-7),
:mod:`~mpsomics.omics.prepare.scaling` (step 8) and
:mod:`~mpsomics.omics.prepare.pipeline` (:func:`prepare`, the steps in order).

Output notes: ``.obs['label']``, ``['group']`` and ``['split']`` are categoricals
of str (h5ad stores strings that way anyway; ``label`` categories are
``[negative, positive]``); ``.uns['classes']`` reads back from h5ad as a str
array; ``.uns['prepare']`` holds only str/int/float/bool and nested dicts of
those (no ``None``: absent optional parameters are ``""``), so it is
JSON-serialisable as produced and h5ad-serialisable.
"""

from mpsomics.omics.prepare.clinical import apply_clinical, parse_classes
from mpsomics.omics.prepare.formats import FORMATS, detect_format
from mpsomics.omics.prepare.geneids import GENE_ID_TYPES, map_gene_ids
from mpsomics.omics.prepare.matching import OTHER_CLASS
from mpsomics.omics.prepare.pipeline import prepare
from mpsomics.omics.prepare.reading import (
    ORIENTATIONS,
    Orientation,
    read_expression,
    read_sample_sheet,
)
from mpsomics.omics.prepare.scaling import minmax_fit_transform
from mpsomics.omics.prepare.splitting import grouped_split
from mpsomics.omics.prepare.transforming import (
    DUPLICATE_RULES,
    LINEAR_MAX,
    NAN_RULES,
    SCALES,
    VALUES,
    detect_scale,
    detect_values,
)

__all__ = [
    "DUPLICATE_RULES",
    "FORMATS",
    "GENE_ID_TYPES",
    "VALUES",
    "apply_clinical",
    "detect_format",
    "detect_values",
    "map_gene_ids",
    "parse_classes",
    "LINEAR_MAX",
    "NAN_RULES",
    "ORIENTATIONS",
    "OTHER_CLASS",
    "SCALES",
    "Orientation",
    "detect_scale",
    "grouped_split",
    "minmax_fit_transform",
    "prepare",
    "read_expression",
    "read_sample_sheet",
]

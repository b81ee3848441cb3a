"""The tree tensor network (TTN) engine: a binary-tree classifier on a gene dendrogram.

Sibling of :mod:`mpsomics.mps` (same leaf feature map, losses and class weights): the
tree (:mod:`~mpsomics.ttn.tree`), the state and its ``.npz`` format
(:mod:`~mpsomics.ttn.state`), NumPy contraction (:mod:`~mpsomics.ttn.contract`), exact
per-class observables via the root-canonical form (:mod:`~mpsomics.ttn.observables`),
the torch model (:mod:`~mpsomics.ttn.torch_model`) and the Adam trainer
(:mod:`~mpsomics.ttn.train`). Torch is imported only by the last two.

May import: :mod:`mpsomics.core` and :mod:`mpsomics.mps` (checked by ``lint-imports``).
"""

from mpsomics.ttn.state import TTNState, bond_dims, load_ttn, save_ttn
from mpsomics.ttn.tree import gene_tree, tree_from_correlation

__all__ = ["TTNState", "bond_dims", "gene_tree", "load_ttn", "save_ttn", "tree_from_correlation"]

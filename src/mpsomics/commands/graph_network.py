"""``mpsomics graph-network``: the co-expression network as GraphML (see :mod:`mpsomics.commands.graphs`)."""

from mpsomics.commands.graphs import add_network_arguments as add_arguments
from mpsomics.commands.graphs import run_network as run

__all__ = ["add_arguments", "run"]

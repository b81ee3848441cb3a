"""``mpsomics graph-community``: one community's MPS correlation graph with its subcommunities
as GraphML (see :mod:`mpsomics.commands.graphs`)."""

from mpsomics.commands.graphs import add_community_arguments as add_arguments
from mpsomics.commands.graphs import run_community as run

__all__ = ["add_arguments", "run"]

"""``mpsomics graph-network`` and ``mpsomics graph-community``: networks as GraphML.

::

    mpsomics graph-network --network results/communities/network.tsv \\
        --communities results/communities/communities.tsv \\
        --selected results/communities/selected.txt --out results/graphs/coexpression.graphml
    mpsomics graph-community --community c01 \\
        --correlations results/mps/c01/correlations_trajectory.npz \\
        --magnetization results/mps/c01/magnetization_trajectory.tsv \\
        --subcommunities results/subcommunities/c01.tsv --out results/graphs/c01.graphml

Node and edge attributes: :mod:`mpsomics.omics.graphs`.
"""

from __future__ import annotations

import argparse

from mpsomics.commands.argtypes import number


def add_network_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--network", required=True, help="network.tsv of `mpsomics communities`")
    parser.add_argument("--communities", required=True, help="communities.tsv of `mpsomics communities`")
    parser.add_argument("--selected", help="selected.txt of `mpsomics communities` (node attribute `selected`)")
    parser.add_argument("--out", required=True, help="output GraphML file")


def run_network(args: argparse.Namespace) -> int:
    from mpsomics.core.readers import read_gene_list, read_tsv
    from mpsomics.omics import graphs

    network = read_tsv(args.network, ["gene1", "gene2", "weight"], numeric=("weight",), text=("gene1", "gene2"))
    comms = read_tsv(args.communities, ["gene", "community", "degree", "path"], integer=("degree",),
                     text=("gene", "community", "path"))
    selected = read_gene_list(args.selected, item="community", allow_empty=True) if args.selected else []
    graphs.write_graphml(graphs.coexpression_graph(network, comms, selected), args.out)
    return 0


def add_community_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--community", required=True, help="community id")
    parser.add_argument("--correlations", required=True, help="correlations_trajectory.npz of `mpsomics train`")
    parser.add_argument("--magnetization", required=True, help="magnetization_trajectory.tsv of `mpsomics train`")
    parser.add_argument("--subcommunities", required=True, help="{community}.tsv of `mpsomics subcommunities`")
    parser.add_argument("--positive", help="positive class (default: the last class of the model)")
    parser.add_argument("--min-correlation", type=number(0, 1), default=0.1,
                        help="edge if the mean over classes of |C(i, j)| is at least this")
    parser.add_argument("--out", required=True, help="output GraphML file")


def run_community(args: argparse.Namespace) -> int:
    from mpsomics.core.readers import read_subcommunities
    from mpsomics.dynamics.training_run import check_same_run, load_correlations, load_magnetization
    from mpsomics.omics import graphs

    epochs, classes, genes, connected = load_correlations(args.correlations)
    magnetization = load_magnetization(args.magnetization)
    check_same_run(correlations=(args.correlations, epochs), magnetization=(args.magnetization, magnetization))
    g = graphs.community_graph(
        args.community, epochs, classes, genes, connected,
        magnetization, read_subcommunities(args.subcommunities),
        positive=args.positive, min_correlation=args.min_correlation,
    )
    graphs.write_graphml(g, args.out)
    return 0

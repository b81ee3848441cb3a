# Outputs for other tools: per-sample scores (TSV and AnnData .obsm) and GraphML networks.


rule scores:
    input:
        h5ad=rules.prepare.output.h5ad,
        selected=rules.communities.output.selected,
        # one file per community, in the order of selected.txt
        models=per_community("results/mps/{community}/model.npz"),
        subcommunities=per_community("results/subcommunities/{community}.tsv"),
    output:
        tsv="results/scores/scores.tsv",
        h5ad="results/scores/expression_scored.h5ad",
    log:
        "results/logs/scores.log",
    benchmark:
        "results/benchmarks/scores.tsv"
    conda:
        ENV
    threads: resource("scores", "threads")
    resources:
        mem_mb=resource("scores", "mem_mb"),
        runtime=resource("scores", "runtime"),
    params:
        # the command writes scores.tsv and expression_scored.h5ad into it
        out_dir=subpath(output.tsv, parent=True),
    shell:
        "mpsomics scores --expression {input.h5ad:q} --selected {input.selected:q}"
        " --models {input.models:q} --subcommunities {input.subcommunities:q}"
        " --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule graph_network:
    input:
        network=rules.communities.output.network,
        communities=rules.communities.output.communities,
        selected=rules.communities.output.selected,
    output:
        "results/graphs/coexpression.graphml",
    log:
        "results/logs/graphs/coexpression.log",
    benchmark:
        "results/benchmarks/graphs/coexpression.tsv"
    conda:
        ENV
    threads: resource("graphs", "threads")
    resources:
        mem_mb=resource("graphs", "mem_mb"),
        runtime=resource("graphs", "runtime"),
    shell:
        "mpsomics graph-network --network {input.network:q} --communities {input.communities:q}"
        " --selected {input.selected:q} --out {output:q} > {log:q} 2>&1"


rule graph_community:
    input:
        correlations=rules.train_mps.output.correlations,
        magnetization=rules.train_mps.output.magnetization,
        subcommunities=rules.subcommunities.output.members,
    output:
        "results/graphs/communities/{community}.graphml",
    log:
        "results/logs/graphs/{community}.log",
    benchmark:
        "results/benchmarks/graphs/{community}.tsv"
    conda:
        ENV
    threads: resource("graphs", "threads")
    resources:
        mem_mb=resource("graphs", "mem_mb"),
        runtime=resource("graphs", "runtime"),
    params:
        options=cli_options(config.get("graphs", {})),
    shell:
        "mpsomics graph-community --community {wildcards.community}"
        " --correlations {input.correlations:q} --magnetization {input.magnetization:q}"
        " --subcommunities {input.subcommunities:q} {params.options}"
        " --out {output:q} > {log:q} 2>&1"

checkpoint communities:
    input:
        unpack(own_communities),
        h5ad=rules.prepare.output.h5ad,
    output:
        communities="results/communities/communities.tsv",
        baseline="results/communities/baseline.tsv",
        selected="results/communities/selected.txt",
        network="results/communities/network.tsv",
        # the network's genes: enrichment universe, pool of random gene sets
        pool="results/communities/pool.txt",
        genes=directory("results/communities/genes"),
    log:
        "results/logs/communities.log",
    benchmark:
        "results/benchmarks/communities.tsv"
    conda:
        ENV
    threads: resource("communities", "threads")
    resources:
        mem_mb=resource("communities", "mem_mb"),
        runtime=resource("communities", "runtime"),
    params:
        # the directory of the declared outputs: the command writes each of them into it
        out_dir=subpath(output.communities, parent=True),
        options=cli_options(config["communities"], skip=("file",)),
        own=own_communities_option,
        select=cli_options(config["communities"].get("select", {})),
        seed=config["seed"],
    shell:
        "mpsomics communities --expression {input.h5ad:q} --out-dir {params.out_dir:q}"
        " {params.options} {params.own} {params.select} --seed {params.seed} --threads {threads} > {log:q} 2>&1"

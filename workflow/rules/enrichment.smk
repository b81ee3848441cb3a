rule enrichment:
    input:
        # the genes of the co-expression network: the universe of every test
        universe=rules.communities.output.pool,
        genes="results/communities/genes/{community}.txt",
        subcommunities=rules.subcommunities.output.members,
        libraries=list(config["enrichment"]["libraries"].values()),
    output:
        "results/enrichment/{community}.tsv",
    log:
        "results/logs/enrichment/{community}.log",
    benchmark:
        "results/benchmarks/enrichment/{community}.tsv"
    conda:
        ENV
    threads: resource("enrichment", "threads")
    resources:
        mem_mb=resource("enrichment", "mem_mb"),
        runtime=resource("enrichment", "runtime"),
    params:
        libraries=" ".join(
            f"--library {shlex.quote(f'{name}={path}')}"
            for name, path in config["enrichment"]["libraries"].items()
        ),
        options=cli_options(config["enrichment"]),
    shell:
        "mpsomics enrichment --genes {input.genes:q} --subcommunities {input.subcommunities:q}"
        " --community {wildcards.community} --universe {input.universe:q} {params.libraries}"
        " {params.options} --out {output:q} > {log:q} 2>&1"


# The classical subcommunities through the same tests (docs/comparison.md)
rule enrichment_classical:
    input:
        universe=rules.communities.output.pool,
        genes="results/communities/genes/{community}.txt",
        subcommunities=rules.classical_subcommunities.output[0],
        libraries=list(config["enrichment"]["libraries"].values()),
    output:
        "results/enrichment/classical/{community}.tsv",
    log:
        "results/logs/enrichment/classical/{community}.log",
    benchmark:
        "results/benchmarks/enrichment/classical/{community}.tsv"
    conda:
        ENV
    threads: resource("enrichment", "threads")
    resources:
        mem_mb=resource("enrichment", "mem_mb"),
        runtime=resource("enrichment", "runtime"),
    params:
        libraries=rules.enrichment.params.libraries,
        options=cli_options(config["enrichment"]),
    shell:
        "mpsomics enrichment --genes {input.genes:q} --subcommunities {input.subcommunities:q}"
        " --community {wildcards.community} --universe {input.universe:q} {params.libraries}"
        " {params.options} --out {output:q} > {log:q} 2>&1"

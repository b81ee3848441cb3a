rule enrichment:
    input:
        h5ad=rules.prepare.output.h5ad,
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
        " --community {wildcards.community} --expression {input.h5ad:q} {params.libraries}"
        " {params.options} --out {output:q} > {log:q} 2>&1"

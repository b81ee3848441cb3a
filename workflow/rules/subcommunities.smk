rule subcommunities:
    input:
        correlations=rules.train_mps.output.correlations,
        magnetization=rules.train_mps.output.magnetization,
        grokking=rules.grokking.output[0],
    output:
        members="results/subcommunities/{community}.tsv",
        curve="results/subcommunities/{community}_curve.tsv",
    log:
        "results/logs/subcommunities/{community}.log",
    benchmark:
        "results/benchmarks/subcommunities/{community}.tsv"
    conda:
        ENV
    threads: resource("subcommunities", "threads")
    resources:
        mem_mb=resource("subcommunities", "mem_mb"),
        runtime=resource("subcommunities", "runtime"),
    params:
        train_dir=subpath(input.correlations, parent=True),
        options=cli_options(config.get("subcommunities", {})),
        seed=config["seed"],
    shell:
        "mpsomics subcommunities --train-dir {params.train_dir} --grokking {input.grokking}"
        " --community {wildcards.community} --out {output.members} --curve-out {output.curve}"
        " {params.options} --seed {params.seed} > {log} 2>&1"

rule subcommunities:
    input:
        correlations=rules.train_mps.output.correlations,
        magnetization=rules.train_mps.output.magnetization,
        grokking=rules.grokking.output[0],
        # the final model: only for `graph_measure: mutual_information` (not recorded per epoch)
        model=mi_model_input,
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
        # the command writes {community}.tsv and {community}_curve.tsv into it
        out_dir=subpath(output.members, parent=True),
        options=cli_options(config.get("subcommunities", {})),
        seed=config["seed"],
        model=lambda wildcards, input: f"--model '{input.model}'" if input.model else "",
    shell:
        "mpsomics subcommunities --correlations {input.correlations:q}"
        " --magnetization {input.magnetization:q} --grokking {input.grokking:q} {params.model}"
        " --community {wildcards.community} --out-dir {params.out_dir:q}"
        " {params.options} --seed {params.seed} > {log:q} 2>&1"

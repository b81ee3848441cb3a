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


# The classical baseline (docs/comparison.md): co-expression Leiden + a differential-expression
# filter within the community, and the top-DE genes of the size of each MPS subcommunity.
rule classical_subcommunities:
    input:
        h5ad=rules.prepare.output.h5ad,
        genes="results/communities/genes/{community}.txt",
        # the sizes of the top-DE sets
        subcommunities=rules.subcommunities.output.members,
    output:
        "results/classical/{community}.tsv",
    log:
        "results/logs/classical/{community}.log",
    benchmark:
        "results/benchmarks/classical/{community}.tsv"
    conda:
        ENV
    threads: resource("classical_subcommunities", "threads")
    resources:
        mem_mb=resource("classical_subcommunities", "mem_mb"),
        runtime=resource("classical_subcommunities", "runtime"),
    params:
        options=classical_options(),
        seed=config["seed"],
    shell:
        "mpsomics classical-subcommunities --expression {input.h5ad:q} --genes {input.genes:q}"
        " --subcommunities {input.subcommunities:q} --community {wildcards.community}"
        " {params.options} --seed {params.seed} --out {output:q} > {log:q} 2>&1"

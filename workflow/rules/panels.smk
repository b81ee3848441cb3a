# Minimal gene panels (docs/panels.md): lottery-ticket pruning of a community's MPS, every
# round cross-validated on the training split, against an L1 path and a permutation null.


rule panels:
    input:
        h5ad=rules.prepare.output.h5ad,
        genes="results/communities/genes/{community}.txt",
    output:
        curve="results/panels/{community}.tsv",
        summary="results/panels/{community}_summary.tsv",
    log:
        "results/logs/panels/{community}.log",
    benchmark:
        "results/benchmarks/panels/{community}.tsv"
    conda:
        ENV
    threads: resource("panels", "threads")
    resources:
        mem_mb=resource("panels", "mem_mb"),
        runtime=resource("panels", "runtime"),
    params:
        # the command writes {community}.tsv and {community}_summary.tsv into it
        out_dir=subpath(output.curve, parent=True),
        options=cli_options(PANELS, skip=("communities",)),
        # the test-split figure's bootstrap, as in `cv`
        bootstrap=cli_options(VALIDATION, keep=("bootstrap",)),
        mps=cli_options(config["mps"], skip=MPS_FIT_SKIP),
        seed=config["seed"],
    shell:
        "mpsomics panels --expression {input.h5ad:q} --genes {input.genes:q}"
        " --community {wildcards.community} --out-dir {params.out_dir:q} {params.options} {params.bootstrap}"
        " {params.mps} --seed {params.seed} --workers {threads} > {log:q} 2>&1"


rule panels_summary:
    input:
        per_panel_community("results/panels/{community}_summary.tsv"),
    output:
        "results/panels/summary.tsv",
    log:
        "results/logs/panels/summary.log",
    benchmark:
        "results/benchmarks/panels/summary.tsv"
    conda:
        ENV
    threads: resource("panels_summary", "threads")
    resources:
        mem_mb=resource("panels_summary", "mem_mb"),
        runtime=resource("panels_summary", "runtime"),
    shell:
        "mpsomics panels-summary {input:q} --out {output:q} > {log:q} 2>&1"

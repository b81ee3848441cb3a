rule train_mps:
    input:
        h5ad=rules.prepare.output.h5ad,
        genes="results/communities/genes/{community}.txt",
    output:
        model="results/mps/{community}/model.npz",
        history="results/mps/{community}/history.tsv",
        entanglement="results/mps/{community}/entanglement.tsv",
        magnetization="results/mps/{community}/magnetization.tsv",
        correlations="results/mps/{community}/correlations.npz",
    log:
        "results/logs/train_mps/{community}.log",
    benchmark:
        "results/benchmarks/train_mps/{community}.tsv"
    conda:
        ENV
    threads: resource("train_mps", "threads")
    resources:
        mem_mb=train_mem_mb,
        runtime=train_runtime,
    params:
        outdir=subpath(output.model, parent=True),
        options=cli_options(config["mps"]),
        seed=config["seed"],
    shell:
        "mpsomics train --expression {input.h5ad} --genes {input.genes} --out {params.outdir}"
        " --community {wildcards.community} {params.options} --seed {params.seed}"
        " --threads {threads} > {log} 2>&1"


rule observe:
    input:
        model=rules.train_mps.output.model,
    output:
        directory("results/observables/{community}"),
    log:
        "results/logs/observe/{community}.log",
    benchmark:
        "results/benchmarks/observe/{community}.tsv"
    conda:
        ENV
    threads: resource("observe", "threads")
    resources:
        mem_mb=resource("observe", "mem_mb"),
        runtime=resource("observe", "runtime"),
    shell:
        "mpsomics observe --model {input.model} --out {output} > {log} 2>&1"

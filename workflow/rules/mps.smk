rule train_mps:
    input:
        h5ad=rules.prepare.output.h5ad,
        genes="results/communities/genes/{community}.txt",
    output:
        **SWEEP_OUTPUTS,
        **TTN_OUTPUTS,
        **REPRESENTATION_OUTPUTS,
        model="results/mps/{community}/model.npz",
        history="results/mps/{community}/history.tsv",
        entanglement="results/mps/{community}/entanglement_trajectory.tsv",
        magnetization="results/mps/{community}/magnetization_trajectory.tsv",
        correlations="results/mps/{community}/correlations_trajectory.npz",
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
        out_dir=subpath(output.model, parent=True),
        model=MODEL,
        options=cli_options(config["mps"]),
        seed=config["seed"],
    shell:
        "mpsomics train --expression {input.h5ad:q} --genes {input.genes:q} --out-dir {params.out_dir:q}"
        " --community {wildcards.community} --model {params.model} {params.options}"
        " --seed {params.seed}"
        " --threads {threads} > {log:q} 2>&1"


rule observe:
    input:
        model=rules.train_mps.output.model,
    output:
        **MI_OUTPUTS,
        magnetization="results/observables/{community}/magnetization.tsv",
        entanglement="results/observables/{community}/entanglement.tsv",
        schmidt="results/observables/{community}/schmidt.npz",
        label_density="results/observables/{community}/label_density.tsv",
        summary="results/observables/{community}/summary.json",
        # one {class}.tsv per class: the class names come from the data
        correlations=directory("results/observables/{community}/correlations"),
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
    params:
        out_dir=subpath(output.summary, parent=True),
    shell:
        "mpsomics observe --model {input.model:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"

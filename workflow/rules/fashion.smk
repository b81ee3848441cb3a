# The paper's Fashion-MNIST grokking experiment: one job per (task, seed), then a
# summary and an HTML page. Not part of `all`: run `snakemake --cores 2 fashion_grokking`.


wildcard_constraints:
    task=r"sneaker_vs_[a-z]+",
    seed=r"\d+",


rule fashion_run:
    input:
        images=f"{FASHION['data']}/t10k-images-idx3-ubyte.gz",
        labels=f"{FASHION['data']}/t10k-labels-idx1-ubyte.gz",
    output:
        **FASHION_CONTROL_OUTPUTS,
        history="results/fashion/runs/{task}/seed{seed}/history.tsv",
        entanglement="results/fashion/runs/{task}/seed{seed}/entanglement_trajectory.tsv",
        magnetization="results/fashion/runs/{task}/seed{seed}/magnetization_trajectory.tsv",
        spectrum="results/fashion/runs/{task}/seed{seed}/spectrum.tsv",
        grokking="results/fashion/runs/{task}/seed{seed}/grokking.tsv",
        model="results/fashion/runs/{task}/seed{seed}/model.npz",
    log:
        "results/logs/fashion/{task}/seed{seed}.log",
    benchmark:
        "results/benchmarks/fashion/{task}/seed{seed}.tsv"
    conda:
        ENV
    threads: resource("fashion_run", "threads")
    resources:
        mem_mb=resource("fashion_run", "mem_mb"),
        runtime=fashion_runtime,
    params:
        # the run directory: the command writes every declared output into it
        out_dir=subpath(output.history, parent=True),
        options=fashion_options(),
    shell:
        "mpsomics fashion-run --images {input.images:q} --labels {input.labels:q}"
        " --task {wildcards.task} --seed {wildcards.seed} --out-dir {params.out_dir:q}"
        " {params.options} --threads {threads} > {log:q} 2>&1"


rule fashion_grokking:
    input:
        history=fashion_runs("results/fashion/runs/{task}/seed{seed}/history.tsv"),
        entanglement=fashion_runs(
            "results/fashion/runs/{task}/seed{seed}/entanglement_trajectory.tsv"
        ),
        spectrum=fashion_runs("results/fashion/runs/{task}/seed{seed}/spectrum.tsv"),
        grokking=fashion_runs("results/fashion/runs/{task}/seed{seed}/grokking.tsv"),
    output:
        summary="results/fashion/summary.tsv",
        comparison="results/fashion/comparison.tsv",
        html=report(
            "results/fashion/report.html",
            caption="../report/fashion.rst",
            category="Fashion-MNIST",
        ),
    log:
        "results/logs/fashion/summary.log",
    benchmark:
        "results/benchmarks/fashion/summary.tsv"
    conda:
        ENV
    threads: resource("fashion_grokking", "threads")
    resources:
        mem_mb=resource("fashion_grokking", "mem_mb"),
        runtime=resource("fashion_grokking", "runtime"),
    params:
        # a run is the directory of its declared files (task x seed order)
        runs=lambda wildcards, input: [os.path.dirname(p) for p in input.grokking],
        out_dir=subpath(output.summary, parent=True),
    shell:
        "mpsomics fashion-summary --runs {params.runs:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"

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
        history="results/fashion/runs/{task}/seed{seed}/history.tsv",
        entanglement="results/fashion/runs/{task}/seed{seed}/entanglement.tsv",
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
        data=subpath(input.images, parent=True),
        options=fashion_options(),
    shell:
        "mpsomics fashion-grokking --data {params.data} --out-dir results/fashion"
        " --tasks {wildcards.task} --seeds {wildcards.seed} --no-summary --force"
        " {params.options} --threads {threads} > {log} 2>&1"


rule fashion_grokking:
    input:
        fashion_runs("results/fashion/runs/{task}/seed{seed}/grokking.tsv"),
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
        tasks=",".join(FASHION["tasks"]),
        seeds=",".join(map(str, FASHION["seeds"])),
    shell:
        "mpsomics fashion-grokking --summarize --out-dir results/fashion"
        " --tasks {params.tasks} --seeds {params.seeds} > {log} 2>&1"

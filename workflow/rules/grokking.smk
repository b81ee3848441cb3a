rule grokking:
    input:
        history=rules.train_mps.output.history,
        entanglement=rules.train_mps.output.entanglement,
    output:
        "results/grokking/{community}.tsv",
    log:
        "results/logs/grokking/{community}.log",
    benchmark:
        "results/benchmarks/grokking/{community}.tsv"
    conda:
        ENV
    threads: resource("grokking", "threads")
    resources:
        mem_mb=resource("grokking", "mem_mb"),
        runtime=resource("grokking", "runtime"),
    params:
        options=cli_options(config.get("grokking", {})),
    shell:
        "mpsomics grokking --history {input.history:q} --entanglement {input.entanglement:q}"
        " --community {wildcards.community} --out {output:q} {params.options} > {log:q} 2>&1"


rule grokking_summary:
    input:
        per_community("results/grokking/{community}.tsv"),
    output:
        report(
            "results/grokking/summary.tsv",
            caption="../report/grokking.rst",
            category="Grokking",
        ),
    log:
        "results/logs/grokking/summary.log",
    benchmark:
        "results/benchmarks/grokking/summary.tsv"
    conda:
        ENV
    threads: resource("grokking", "threads")
    resources:
        mem_mb=resource("grokking", "mem_mb"),
        runtime=resource("grokking", "runtime"),
    shell:
        "mpsomics grokking-summary {input:q} --out {output:q} > {log:q} 2>&1"

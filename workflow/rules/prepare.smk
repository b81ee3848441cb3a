rule prepare:
    input:
        expression=config["expression"],
        samples=config["samples"],
    output:
        h5ad="results/prepared/expression.h5ad",
    log:
        "results/logs/prepare.log",
    benchmark:
        "results/benchmarks/prepare.tsv"
    conda:
        ENV
    threads: resource("prepare", "threads")
    resources:
        mem_mb=resource("prepare", "mem_mb"),
        runtime=resource("prepare", "runtime"),
    params:
        options=cli_options(config["prepare"]),
        seed=config["seed"],
    shell:
        "mpsomics prepare --expression {input.expression:q} --samples {input.samples:q}"
        " --out {output.h5ad:q} {params.options} --seed {params.seed} > {log:q} 2>&1"

rule prepare:
    input:
        unpack(prepare_inputs),
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
        options=cli_options(config["prepare"], skip=PREPARE_FILE_KEYS),
        files=prepare_file_options,
        seed=config["seed"],
    shell:
        "mpsomics prepare --expression {input.expression:q} {params.files}"
        " --out {output.h5ad:q} {params.options} --seed {params.seed} > {log:q} 2>&1"

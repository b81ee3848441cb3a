rule train_controls:
    input:
        h5ad=rules.prepare.output.h5ad,
        genes="results/communities/genes/{community}.txt",
        # controls are trained only when the real run has a transition
        real=rules.train_mps.output.entanglement,
    output:
        entanglement="results/controls/{community}/entanglement_trajectory.tsv",
        history="results/controls/{community}/history.tsv",
        # the community trained with the other sweep updates (`grokking.compare_updates`)
        modes="results/controls/{community}/modes.tsv",
        modes_entanglement="results/controls/{community}/modes_entanglement.tsv",
    log:
        "results/logs/train_controls/{community}.log",
    benchmark:
        "results/benchmarks/train_controls/{community}.tsv"
    conda:
        ENV
    threads: resource("train_controls", "threads")
    resources:
        mem_mb=train_mem_mb,
        runtime=controls_runtime,
    params:
        out_dir=subpath(output.history, parent=True),
        options=cli_options(config["mps"], skip=MPS_FIT_SKIP),
        controls=CONTROLS,
        min_drop=config["grokking"]["min_drop"],
        compare=compare_updates_option(),
        seed=config["seed"],
    shell:
        "mpsomics controls --expression {input.h5ad:q} --genes {input.genes:q}"
        " --out-dir {params.out_dir:q} --controls {params.controls} {params.options}"
        " --entanglement {input.real:q} --min-drop {params.min_drop} {params.compare}"
        " --seed {params.seed} --threads {threads} > {log:q} 2>&1"


rule grokking:
    input:
        history=rules.train_mps.output.history,
        entanglement=rules.train_mps.output.entanglement,
        # label-permutation controls (MPS only; `grokking.controls: 0` turns them off)
        controls=control_input(
            "results/controls/{community}/entanglement_trajectory.tsv"
        ),
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
        options=cli_options(
            config.get("grokking", {}), skip=("controls", "compare_updates")
        ),
        controls=lambda wildcards, input: (
            f"--control-entanglement '{input.controls}'" if input.controls else ""
        ),
    shell:
        "mpsomics grokking --history {input.history:q} --entanglement {input.entanglement:q}"
        " {params.controls} --community {wildcards.community} --out {output:q}"
        " {params.options} > {log:q} 2>&1"


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

# How far to trust a community or a subcommunity (docs/validation.md): repeated patient-grouped
# cross-validation with a label-permutation null, stability under bootstrap resampling of
# patients, and independent cohorts (external AUC vs random gene sets, module preservation).


rule cv:
    input:
        h5ad=rules.prepare.output.h5ad,
        genes="results/communities/genes/{community}.txt",
        model=rules.train_mps.output.model,
    output:
        "results/validation/cv/{community}.tsv",
    log:
        "results/logs/cv/{community}.log",
    benchmark:
        "results/benchmarks/cv/{community}.tsv"
    conda:
        ENV
    threads: resource("cv", "threads")
    resources:
        mem_mb=resource("cv", "mem_mb"),
        runtime=resource("cv", "runtime"),
    params:
        options=cli_options(VALIDATION, keep=CV_KEYS),
        mps=cli_options(config["mps"], skip=MPS_FIT_SKIP),
        seed=config["seed"],
    shell:
        "mpsomics cv --expression {input.h5ad:q} --genes {input.genes:q} --model {input.model:q}"
        " --community {wildcards.community} --out {output:q} {params.options} {params.mps}"
        " --seed {params.seed} --threads {threads} > {log:q} 2>&1"


rule cv_summary:
    input:
        per_community("results/validation/cv/{community}.tsv"),
    output:
        "results/validation/cv.tsv",
    log:
        "results/logs/cv/summary.log",
    benchmark:
        "results/benchmarks/cv/summary.tsv"
    conda:
        ENV
    threads: resource("cv", "threads")
    resources:
        mem_mb=resource("cv", "mem_mb"),
        runtime=resource("cv", "runtime"),
    shell:
        "mpsomics cv-summary {input:q} --out {output:q} > {log:q} 2>&1"


rule stability:
    input:
        h5ad=rules.prepare.output.h5ad,
        genes="results/communities/genes/{community}.txt",
        subcommunities=rules.subcommunities.output.members,
        magnetization=rules.train_mps.output.magnetization,
        classical=rules.classical_subcommunities.output[0],
    output:
        "results/validation/stability/{community}.tsv",
    log:
        "results/logs/stability/{community}.log",
    benchmark:
        "results/benchmarks/stability/{community}.tsv"
    conda:
        ENV
    threads: resource("stability", "threads")
    resources:
        mem_mb=resource("stability", "mem_mb"),
        runtime=resource("stability", "runtime"),
    params:
        options=cli_options(VALIDATION, keep=STABILITY_KEYS),
        mps=cli_options(config["mps"], skip=MPS_FIT_SKIP),
        grokking=cli_options(
            config.get("grokking", {}), skip=("controls", "compare_updates")
        ),
        # resamples rerun the connected-correlation graph (the MI graph needs each final model)
        subcommunities=cli_options(
            config.get("subcommunities", {}), skip=("graph_measure", "mi_threshold")
        ),
        classical=cli_options(
            CLASSICAL, rename={k: f"classical_{k}" for k in CLASSICAL}
        ),
        seed=config["seed"],
    shell:
        "mpsomics stability --expression {input.h5ad:q} --genes {input.genes:q}"
        " --subcommunities {input.subcommunities:q} --magnetization {input.magnetization:q}"
        " --classical {input.classical:q} {params.classical}"
        " --community {wildcards.community} --out {output:q} {params.options} {params.mps}"
        " {params.grokking} {params.subcommunities} --seed {params.seed} --threads {threads}"
        " > {log:q} 2>&1"


rule stability_summary:
    input:
        per_community("results/validation/stability/{community}.tsv"),
    output:
        "results/validation/stability.tsv",
    log:
        "results/logs/stability/summary.log",
    benchmark:
        "results/benchmarks/stability/summary.tsv"
    conda:
        ENV
    threads: resource("stability", "threads")
    resources:
        mem_mb=resource("stability", "mem_mb"),
        runtime=resource("stability", "runtime"),
    shell:
        "mpsomics stability-summary {input:q} --out {output:q} > {log:q} 2>&1"


rule validate:
    input:
        unpack(cohort_inputs),
        h5ad=rules.prepare.output.h5ad,
        selected=rules.communities.output.selected,
        pool=rules.communities.output.pool,
        # one file per community, in the order of selected.txt
        genes=per_community("results/communities/genes/{community}.txt"),
        models=per_community("results/mps/{community}/model.npz"),
        subcommunities=per_community("results/subcommunities/{community}.tsv"),
        classical=per_community("results/classical/{community}.tsv"),
    output:
        "results/validation/summary.tsv",
    log:
        "results/logs/validate.log",
    benchmark:
        "results/benchmarks/validate.tsv"
    conda:
        ENV
    threads: resource("validate", "threads")
    resources:
        mem_mb=resource("validate", "mem_mb"),
        runtime=resource("validate", "runtime"),
    params:
        # the cohorts of config `validation.cohorts`, their files replaced by the declared inputs
        cohorts=cohorts_json,
        options=cli_options(VALIDATION, keep=VALIDATE_KEYS),
        seed=config["seed"],
    shell:
        "mpsomics validate --expression {input.h5ad:q} --selected {input.selected:q} --pool {input.pool:q}"
        " --genes {input.genes:q} --models {input.models:q}"
        " --subcommunities {input.subcommunities:q} --classical {input.classical:q}"
        " --cohorts-json {params.cohorts:q}"
        " {params.options} --seed {params.seed} --out {output:q} > {log:q} 2>&1"


rule compare_subcommunities:
    input:
        selected=rules.communities.output.selected,
        # one file per community, in the order of selected.txt
        subcommunities=per_community("results/subcommunities/{community}.tsv"),
        classical=per_community("results/classical/{community}.tsv"),
        enrichment=per_community("results/enrichment/{community}.tsv"),
        classical_enrichment=per_community(
            "results/enrichment/classical/{community}.tsv"
        ),
        stability=rules.stability_summary.output[0],
        validation=rules.validate.output[0],
    output:
        sets="results/comparison/subcommunities.tsv",
        summary="results/comparison/summary.tsv",
    log:
        "results/logs/comparison.log",
    benchmark:
        "results/benchmarks/comparison.tsv"
    conda:
        ENV
    threads: resource("compare_subcommunities", "threads")
    resources:
        mem_mb=resource("compare_subcommunities", "mem_mb"),
        runtime=resource("compare_subcommunities", "runtime"),
    params:
        out_dir=subpath(output.summary, parent=True),
        options=cli_options(VALIDATION, keep=("stable_jaccard", "fdr", "preserved_z")),
    shell:
        "mpsomics compare-subcommunities --selected {input.selected:q}"
        " --subcommunities {input.subcommunities:q} --classical {input.classical:q}"
        " --enrichment {input.enrichment:q} --classical-enrichment {input.classical_enrichment:q}"
        " --stability {input.stability:q} --validation {input.validation:q} {params.options}"
        " --out-dir {params.out_dir:q} > {log:q} 2>&1"

rule report:
    input:
        h5ad=rules.prepare.output.h5ad,
        baseline=rules.communities.output.baseline,
        selected=rules.communities.output.selected,
        # one file per community, in the order of selected.txt (per_community keeps it)
        genes=per_community("results/communities/genes/{community}.txt"),
        history=per_community("results/mps/{community}/history.tsv"),
        entanglement=per_community(
            "results/mps/{community}/entanglement_trajectory.tsv"
        ),
        magnetization=per_community(
            "results/mps/{community}/magnetization_trajectory.tsv"
        ),
        correlations=per_community(
            "results/mps/{community}/correlations_trajectory.npz"
        ),
        grokking=per_community("results/grokking/{community}.tsv"),
        # label-permutation controls of the entanglement transition (none when off or TTN)
        controls=(
            per_community("results/controls/{community}/entanglement_trajectory.tsv")
            if CONTROLS > 0
            else []
        ),
        modes=(
            per_community("results/controls/{community}/modes.tsv")
            if CONTROLS > 0
            else []
        ),
        subcommunities=per_community("results/subcommunities/{community}.tsv"),
        enrichment=per_community("results/enrichment/{community}.tsv"),
        observed_magnetization=per_community(
            "results/observables/{community}/magnetization.tsv"
        ),
        observed_correlations=per_community(
            "results/observables/{community}/correlations"
        ),
        # how far to trust each community and subcommunity (rules in validation.smk)
        cv=rules.cv_summary.output[0],
        stability=rules.stability_summary.output[0],
        validation=rules.validate.output[0],
        # beyond the paper: gene panels and the classical comparison
        panels=rules.panels_summary.output[0],
        panel_curves=per_panel_community("results/panels/{community}.tsv"),
        comparison=rules.compare_subcommunities.output.summary,
        comparison_sets=rules.compare_subcommunities.output.sets,
        representation=(
            per_community("results/mps/{community}/representation_trajectory.tsv")
            if REPRESENTATION_OUTPUTS
            else []
        ),
        # TTN runs (config `model: ttn`): the gene tree of every community
        trees=(
            per_community("results/mps/{community}/tree.tsv") if MODEL == "ttn" else []
        ),
    output:
        html="results/report/index.html",
        figures=report(
            directory("results/report/figures"),
            patterns=["{name}.png"],
            caption="../report/figures.rst",
            category="Communities",
        ),
    log:
        "results/logs/report.log",
    benchmark:
        "results/benchmarks/report.tsv"
    conda:
        ENV
    threads: resource("report", "threads")
    resources:
        mem_mb=resource("report", "mem_mb"),
        runtime=resource("report", "runtime"),
    params:
        config_json=json.dumps(config),
        # the command writes index.html and figures/ into it
        out_dir=subpath(output.html, parent=True),
        trees_flag="--tree" if MODEL == "ttn" else "",
        controls_flag="--controls" if CONTROLS > 0 else "",
        modes_flag="--modes" if CONTROLS > 0 else "",
        representation_flag="--representation" if REPRESENTATION_OUTPUTS else "",
    shell:
        "mpsomics report --config-json {params.config_json:q}"
        " --selected {input.selected:q} --baseline {input.baseline:q} --expression {input.h5ad:q}"
        " --genes {input.genes:q} --history {input.history:q}"
        " --entanglement {input.entanglement:q} --magnetization {input.magnetization:q}"
        " --correlations {input.correlations:q} --grokking {input.grokking:q}"
        " {params.controls_flag} {input.controls:q}"
        " {params.modes_flag} {input.modes:q}"
        " --subcommunities {input.subcommunities:q} --enrichment {input.enrichment:q}"
        " --observed-magnetization {input.observed_magnetization:q}"
        " --observed-correlations {input.observed_correlations:q}"
        " --cv {input.cv:q} --stability {input.stability:q} --validation {input.validation:q}"
        " --panels {input.panels:q} --panel-curves {input.panel_curves:q}"
        " --comparison {input.comparison:q} --comparison-sets {input.comparison_sets:q}"
        " {params.trees_flag} {input.trees:q}"
        " {params.representation_flag} {input.representation:q}"
        " --out-dir {params.out_dir:q} > {log:q} 2>&1"

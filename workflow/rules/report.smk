rule report:
    input:
        h5ad=rules.prepare.output.h5ad,
        communities=rules.communities.output.communities,
        baseline=rules.communities.output.baseline,
        selected=rules.communities.output.selected,
        models=per_community("results/mps/{community}/model.npz"),
        observables=per_community("results/observables/{community}"),
        grokking=rules.grokking_summary.output[0],
        subcommunities=per_community("results/subcommunities/{community}.tsv"),
        enrichment=per_community("results/enrichment/{community}.tsv"),
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
    shell:
        "mpsomics report --config-json {params.config_json:q} --communities-dir results/communities"
        " --mps-dir results/mps --observables-dir results/observables --grokking-dir results/grokking"
        " --subcommunities-dir results/subcommunities --enrichment-dir results/enrichment"
        " --expression {input.h5ad} --figures-dir {output.figures} --out {output.html} > {log} 2>&1"

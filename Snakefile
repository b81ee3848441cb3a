# mpsomics: gene subcommunities with Matrix Product State classifiers.
# Thin entry point: configuration, validation and the rule modules.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/prepare.smk"
include: "workflow/rules/communities.smk"
include: "workflow/rules/mps.smk"
include: "workflow/rules/grokking.smk"
include: "workflow/rules/subcommunities.smk"
include: "workflow/rules/enrichment.smk"
include: "workflow/rules/interop.smk"
include: "workflow/rules/validation.smk"
include: "workflow/rules/panels.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/fashion.smk"


rule all:
    default_target: True
    input:
        rules.report.output.html,
        rules.grokking_summary.output[0],
        rules.scores.output.tsv,
        rules.cv_summary.output[0],
        rules.stability_summary.output[0],
        rules.validate.output[0],
        rules.panels_summary.output[0],
        rules.compare_subcommunities.output.summary,
        rules.graph_network.output[0],
        per_community("results/graphs/communities/{community}.graphml"),

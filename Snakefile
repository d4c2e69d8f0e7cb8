# maple: MAPLE (arXiv 2401.07598) end to end. Read like a table of contents.


# --configfile replaces the embedded default instead of being merged into it
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


report: "docs/report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/generate.smk"
include: "rules/score.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        final_targets(),

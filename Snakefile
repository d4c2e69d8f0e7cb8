# maple: MAPLE (arXiv 2401.07598) end to end. Read like a table of contents.


from maple.config import check_yaml_file

# --configfile replaces the embedded default instead of being merged into it
if not workflow.overwrite_configfiles:
    # malformed YAML: one line naming file, line and column, not Snakemake's generic error
    check_yaml_file("config.yaml")

    configfile: "config.yaml"


# the same check of each --configfile (also made by the workflow profile, before Snakemake loads
# them): Snakemake's loader keeps the last of two duplicate keys silently
for _configfile in workflow.overwrite_configfiles:
    check_yaml_file(_configfile)


report: "docs/report/workflow.rst"


include: "rules/common.smk"
include: "rules/download.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/generate.smk"
include: "rules/score.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        final_targets(),

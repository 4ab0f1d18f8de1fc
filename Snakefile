# Alice (proactive weak-to-strong generalization, arXiv 2504.07316) as a DAG.
# `snakemake --cores 2` builds Table 1 of the embedded default; see README.md.

include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/teacher.smk"
include: "rules/sft.smk"
include: "rules/alice.smk"
include: "rules/w2s.smk"
include: "rules/eval.smk"
include: "rules/tables.smk"


rule all:
    default_target: True
    input:
        rules.table1.output,


rule embedded_models:
    """Every embedded model of the config, whether a table uses it or not."""
    input:
        embedded_model_dirs(),

# Alice (proactive weak-to-strong generalization, arXiv 2504.07316) as a DAG.
# `snakemake --cores 2` builds every table of the config (embedded default: tiny
# models, toy data, CPU) and the report's pages; see README.md.

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
        [getattr(rules, name).input for name in TABLES],


rule embedded_models:
    """Every embedded model of the config, whether a table uses it or not."""
    input:
        embedded_model_dirs(),

# Alice (proactive weak-to-strong generalization, arXiv 2504.07316) as a DAG.
# `snakemake --cores 2` builds every table of the config (embedded default: SmolLM2
# and its partly 3-bit copy on CPU, config/config.yaml) and the report's pages; see README.md.


report: "resources/report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/models.smk"
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


rule tiny_models:
    """Every tiny model of the config, whether a table uses it or not."""
    input:
        tiny_model_dirs(),


# Optional experiment tracking (config `tracking`): when a run ends, the Snakemake
# process logs the jobs that finished from their manifests; it never fails the run.
onsuccess:
    track(config)


onerror:
    track(config)


# Every script rule is a stage (alice_w2s.pipeline), and gets its `code` param here:
# each job's code identity, a hash of its script and of the package code it runs on
# its dataset's kind under its generation backend (alice_w2s.fingerprint). With
# Snakemake's mtime-based code trigger off (profiles/), this decides code reruns.
for _rule in workflow.rules:
    if _rule.script is not None:
        check_stage(_rule)
        _rule.set_params(code=code_identity(_rule))

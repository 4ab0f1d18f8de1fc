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


rule embedded_models:
    """Every embedded model of the config, whether a table uses it or not."""
    input:
        embedded_model_dirs(),


# Optional experiment tracking (config `tracking`): when a run ends, the Snakemake
# process logs the jobs that finished from their manifests; it never fails the run.
onsuccess:
    track(config)


onerror:
    track(config)


# Every script rule's `code` param, in one place: a hash of its script's normalised
# code and of the package modules the script runs (alice_w2s.fingerprint). With
# Snakemake's mtime-based code trigger off (profiles/), this decides code reruns.
for _rule in workflow.rules:
    if _rule.script is not None:
        _script = _rule.basedir.join(_rule.script).get_path_or_uri(secret_free=True)
        _rule.set_params(code=code_fingerprint(_script, PACKAGE_DIR))

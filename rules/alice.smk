# Stages 3-4 of Alice: sample K teacher responses, cluster them, summarize the
# teacher's uncertainty, the student's zero-shot answers, and the student's
# synthesized labels. Paths are keyed by (teacher, pool), so every experiment that
# needs the same teacher on the same questions shares one file.


rule sample:
    input:
        transfer=data_path("transfer_questions"),
        model=lambda wc: model_files(wc.dataset, wc.teacher),
    output:
        stage_output("sample"),
    log:
        f"{R}/logs/sample/{{dataset}}/{{teacher}}/{{pool}}.log",
    benchmark:
        f"{R}/benchmarks/sample/{{dataset}}/{{teacher}}/{{pool}}.tsv"
    threads: job_cpus("sample", lambda wc: wc.teacher)
    resources:
        **job_resources("sample", lambda wc: wc.teacher),
    params:
        kind=dataset_kind,
        model=lambda wc: model_location(wc.dataset, wc.teacher),
        settings=config["stages"]["sample"],
        generation=generation_params("sample", lambda wc: wc.teacher),
        prompts=stage_prompts("sample"),
        seed=lambda wc: job_seed(wc.teacher),
    script:
        "../workflow/scripts/sample.py"


rule cluster:
    input:
        transfer=data_path("transfer_questions"),
        samples=stage_output("sample"),
    output:
        stage_output("cluster"),
    log:
        f"{R}/logs/cluster/{{dataset}}/{{teacher}}/{{pool}}.log",
    threads: job_cpus("cluster")
    resources:
        **job_resources("cluster"),
    params:
        kind=dataset_kind,
        settings=cluster_settings,
    script:
        "../workflow/scripts/cluster.py"


rule summarize_uncertainty:
    input:
        transfer=data_path("transfer_questions"),
        clusters=stage_output("cluster"),
        model=lambda wc: model_files(wc.dataset, config["summarizer"]),
    output:
        stage_output("summarize_uncertainty"),
    log:
        f"{R}/logs/summarize_uncertainty/{{dataset}}/{{teacher}}/{{pool}}.log",
    threads: job_cpus("summarize_uncertainty", lambda wc: config["summarizer"])
    resources:
        **job_resources("summarize_uncertainty", lambda wc: config["summarizer"]),
    params:
        kind=dataset_kind,
        model=lambda wc: model_location(wc.dataset, config["summarizer"]),
        settings=config["stages"]["summarize_uncertainty"],
        generation=generation_params("summarize_uncertainty", lambda wc: config["summarizer"]),
        prompts=stage_prompts("summarize_uncertainty"),
        seed=lambda wc: job_seed(wc.teacher),
    script:
        "../workflow/scripts/summarize_uncertainty.py"


rule zeroshot:
    input:
        transfer=data_path("transfer_questions"),
        model=lambda wc: model_files(wc.dataset, wc.name),
    output:
        stage_output("zeroshot"),
    log:
        f"{R}/logs/zeroshot/{{dataset}}/{{name}}/{{pool}}.log",
    threads: job_cpus("zeroshot", lambda wc: wc.name)
    resources:
        **job_resources("zeroshot", lambda wc: wc.name),
    params:
        kind=dataset_kind,
        model=lambda wc: model_location(wc.dataset, wc.name),
        settings=config["stages"]["zeroshot"],
        generation=generation_params("zeroshot", lambda wc: wc.name),
        prompts=stage_prompts("zeroshot"),
        seed=lambda wc: job_seed(wc.name),
    script:
        "../workflow/scripts/zeroshot.py"


rule synthesize:
    input:
        unpack(synthesis_inputs),
    output:
        stage_output("synthesize"),
    log:
        f"{R}/logs/synthesize/{{dataset}}/{{key}}.log",
    threads: job_cpus("synthesize", lambda wc: plan.parse_key(wc.key).name)
    resources:
        **job_resources("synthesize", lambda wc: plan.parse_key(wc.key).name),
    params:
        kind=dataset_kind,
        pool=lambda wc: plan.parse_key(wc.key).work_pool,
        # the key decides whether the teachers' uncertainty is shown (plan.METHODS)
        use_uncertainty=lambda wc: plan.parse_key(wc.key).uses_uncertainty,
        model=lambda wc: model_location(wc.dataset, plan.parse_key(wc.key).name),
        settings=config["stages"]["synthesize"],
        generation=generation_params("synthesize", lambda wc: plan.parse_key(wc.key).name),
        prompts=stage_prompts("synthesize"),
        seed=lambda wc: job_seed(wc.key),
    script:
        "../workflow/scripts/synthesize.py"


rule slice_labels:
    input:
        transfer=data_path("transfer_questions"),
        labels=lambda wc: training_set(wc.dataset, plan.direct_of(plan.check_training_set_maker(wc.key, "sliced"))),
    output:
        stage_output("slice_labels"),
    log:
        f"{R}/logs/slice_labels/{{dataset}}/{{key}}.log",
    threads: job_cpus("slice_labels")
    resources:
        **job_resources("slice_labels"),
    params:
        pool=lambda wc: plan.parse_key(wc.key).pool,
    script:
        "../workflow/scripts/slice_labels.py"

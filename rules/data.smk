# Data: normalised teacher / transfer / eval parts per dataset; tiny models.


rule prepare_data:
    output:
        **stage_outputs("prepare_data"),
    log:
        f"{R}/logs/prepare_data/{{dataset}}.log",
    threads: job_cpus("prepare_data")
    resources:
        **job_resources("prepare_data"),
    params:
        name=lambda wc: wc.dataset,
        settings=lambda wc: config["datasets"][wc.dataset],
    script:
        "../workflow/scripts/prepare_data.py"


rule transfer_questions:
    """The transfer pool without its gold answers: the only form of the pool that
    sampling, clustering, summaries, zero-shot answers, synthesis, original-W2SG
    answers and slicing read. The pool's gold reaches only the baselines' training
    (labels_gold_sets), label_quality and nothing else (tests/test_leakage.py)."""
    input:
        transfer=data_path("transfer"),
    output:
        stage_output("transfer_questions"),
    log:
        f"{R}/logs/transfer_questions/{{dataset}}.log",
    threads: job_cpus("transfer_questions")
    resources:
        **job_resources("transfer_questions"),
    script:
        "../workflow/scripts/transfer_questions.py"


rule build_tokenizer:
    output:
        directory(stage_output("build_tokenizer")),
    log:
        f"{R}/logs/build_tokenizer.log",
    threads: job_cpus("build_tokenizer")
    resources:
        **job_resources("build_tokenizer"),
    params:
        settings=config["tiny"],
        kinds=WARMUP_KINDS,
        # the toy text is rendered with the question templates only
        prompts=prompt_params(*QUESTION_TEMPLATES),
    script:
        "../workflow/scripts/build_tokenizer.py"


rule build_tiny_model:
    input:
        tokenizer=stage_output("build_tokenizer"),
    output:
        directory(stage_output("build_tiny_model")),
    log:
        f"{R}/logs/build_tiny_model/{{name}}.log",
    wildcard_constraints:
        name="|".join(TINY) or "(?!)",
    threads: job_cpus("build_tiny_model")
    resources:
        **job_resources("build_tiny_model"),
    params:
        # the architecture only: a model's gpus or size_b do not change its weights
        settings=lambda wc: {k: MODELS[wc.name][k] for k in TINY_ARCH_KEYS},
        tiny=config["tiny"],
        seed=config["seed"],
        kinds=WARMUP_KINDS,
        prompts=prompt_params(*QUESTION_TEMPLATES),
    script:
        "../workflow/scripts/build_tiny_model.py"

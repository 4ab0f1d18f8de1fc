# Original W2SG: the fine-tuned teacher answers each pool question once; the
# student is fine-tuned on those answers (rule sft).


rule w2s_answers:
    input:
        transfer=data_path("transfer_questions"),
        model=lambda wc: model_files(wc.dataset, wc.teacher),
    output:
        stage_output("w2s_answers"),
    log:
        f"{R}/logs/w2s_answers/{{dataset}}/{{teacher}}/{{pool}}.log",
    threads: job_cpus("w2s_answers", lambda wc: wc.teacher)
    resources:
        **job_resources("w2s_answers", lambda wc: wc.teacher),
    params:
        kind=dataset_kind,
        model=lambda wc: model_location(wc.dataset, wc.teacher),
        settings=config["stages"]["w2s_answers"],
        generation=generation_params("w2s_answers", lambda wc: wc.teacher),
        prompts=stage_prompts("w2s_answers"),
        seed=lambda wc: job_seed(wc.teacher),
    script:
        "../workflow/scripts/w2s_answers.py"

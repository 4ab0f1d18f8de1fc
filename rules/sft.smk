# Supervised fine-tuning of every trained model (teachers, baselines, students).


rule sft:
    input:
        labels=lambda wc: training_set(wc.dataset, wc.key),
        base=lambda wc: model_files(wc.dataset, plan.parse_key(wc.key).name),
    output:
        directory(stage_output("sft")),
    log:
        f"{R}/logs/sft/{{dataset}}/{{key}}.log",
    benchmark:
        f"{R}/benchmarks/sft/{{dataset}}/{{key}}.tsv"
    threads: job_cpus("sft", lambda wc: wc.key, training=True)
    resources:
        **job_resources("sft", lambda wc: wc.key, training=True),
    params:
        answer_type=lambda wc: dataset_spec(wc.dataset).answer_type,
        base=lambda wc: model_location(wc.dataset, plan.parse_key(wc.key).name),
        recipe=lambda wc: sft_recipe(wc.key),
        prompts=stage_prompts("sft"),
        seed=lambda wc: job_seed(wc.key),
    script:
        "../workflow/scripts/sft.py"

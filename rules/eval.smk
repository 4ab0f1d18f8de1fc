# Evaluation: greedy answers on the eval split; per-item Parquet + summary JSON.


rule eval:
    input:
        eval_rows=data_path("eval"),
        model=lambda wc: model_files(wc.dataset, wc.key),
    output:
        **stage_outputs("eval"),
    log:
        f"{R}/logs/eval/{{dataset}}/{{key}}.log",
    threads: job_cpus("eval", lambda wc: wc.key)
    resources:
        **job_resources("eval", lambda wc: wc.key),
    params:
        kind=dataset_kind,
        model=lambda wc: model_location(wc.dataset, wc.key),
        settings=config["stages"]["eval"],
        generation=generation_params("eval", lambda wc: wc.key),
        prompts=stage_prompts("eval"),
        seed=lambda wc: job_seed(wc.key),
    script:
        "../workflow/scripts/eval.py"


rule label_quality:
    """What a trained model learned from: its training set scored against the gold
    answers of the rows it labels (for a student, the transfer pool's gold, which no
    student is trained on), and for an Alice student how its synthesized labels
    relate to its teachers' final answers. Only the table reads its output."""
    input:
        unpack(label_quality_inputs),
    output:
        stage_output("label_quality"),
    log:
        f"{R}/logs/label_quality/{{dataset}}/{{key}}.log",
    threads: job_cpus("label_quality")
    resources:
        **job_resources("label_quality"),
    params:
        kind=dataset_kind,
    script:
        "../workflow/scripts/label_quality.py"

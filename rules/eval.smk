# Evaluation: greedy answers on the eval split; per-item Parquet + summary JSON.


rule eval:
    input:
        eval_rows=data_path("eval"),
        model=lambda wc: model_files(wc.dataset, wc.key),
    output:
        per_item=f"{R}/eval/{{dataset}}/{{key}}.parquet",
        summary=f"{R}/eval/{{dataset}}/{{key}}.json",
    log:
        f"{R}/logs/eval/{{dataset}}/{{key}}.log",
    threads: job_cpus("generate", lambda wc: wc.key)
    resources:
        **job_resources("generate", lambda wc: wc.key),
    params:
        kind=dataset_kind,
        model=lambda wc: model_location(wc.dataset, wc.key),
        settings=config["stages"]["eval"],
        generation=generation_params("eval", lambda wc: wc.key),
        prompts=prompt_params("question/{answer_type}.txt"),
        seed=config["seed"],
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
        f"{R}/label_quality/{{dataset}}/{{key}}.json",
    log:
        f"{R}/logs/label_quality/{{dataset}}/{{key}}.log",
    threads: job_cpus("light")
    resources:
        **job_resources("light"),
    params:
        kind=dataset_kind,
    script:
        "../workflow/scripts/label_quality.py"

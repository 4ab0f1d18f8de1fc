# Stage 1: the teacher's training sets (Q-CoT-A by rejection sampling or human
# solutions, Q-A), and the gold training set of the Weak/Strong baselines.


rule cot_filter:
    input:
        teacher_half=data_path("teacher"),
        model=cot_model_inputs,
    output:
        f"{R}/cot/{{dataset}}/{{name}}.parquet",
    params:
        kind=dataset_kind,
        model=lambda wc: model_location(wc.dataset, wc.name),
        settings=config["stages"]["cot"],
        generation=generation_params("cot"),
        prompts=prompt_params(),
        seed=config["seed"],
    log:
        f"{R}/logs/cot_filter/{{dataset}}/{{name}}.log",
    script:
        "../workflow/scripts/cot_filter.py"


rule labels_teacher_cot:
    input:
        f"{R}/cot/{{dataset}}/{{name}}.parquet",
    output:
        f"{R}/labels/{{dataset}}/{{name}}@teacher-cot.parquet",
    log:
        f"{R}/logs/labels_teacher_cot/{{dataset}}/{{name}}.log",
    script:
        "../workflow/scripts/labels_teacher_cot.py"


rule labels_gold_sets:
    input:
        teacher_half=data_path("teacher"),
        transfer=data_path("transfer"),
    output:
        teacher_qa=f"{R}/labels/{{dataset}}/_teacher-qa.parquet",
        gold=f"{R}/labels/{{dataset}}/_gold.parquet",
    params:
        kind=dataset_kind,
    log:
        f"{R}/logs/labels_gold_sets/{{dataset}}.log",
    script:
        "../workflow/scripts/labels_gold_sets.py"

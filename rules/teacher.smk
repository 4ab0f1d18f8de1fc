# Stage 1: the teacher's training sets (Q-CoT-A by rejection sampling or human
# solutions, Q-A), and the gold training set of the Weak/Strong baselines.


rule cot_filter:
    input:
        teacher_half=data_path("teacher"),
        model=cot_model_inputs,
    output:
        f"{R}/cot/{{dataset}}/{{name}}.parquet",
    log:
        f"{R}/logs/cot_filter/{{dataset}}/{{name}}.log",
    threads: job_cpus("generate", lambda wc: wc.name)
    resources:
        **job_resources("generate", lambda wc: wc.name),
    params:
        kind=dataset_kind,
        model=unless_human_cot(lambda wc: model_location(wc.dataset, wc.name)),
        settings=unless_human_cot(lambda wc: config["stages"]["cot"]),
        generation=unless_human_cot(generation_params("cot", lambda wc: wc.name)),
        prompts=unless_human_cot(prompt_params("question/{answer_type}.txt", "cot/{answer_type}.txt")),
        seed=config["seed"],
    script:
        "../workflow/scripts/cot_filter.py"


rule labels_teacher_cot:
    input:
        f"{R}/cot/{{dataset}}/{{name}}.parquet",
    output:
        training_set_path("teacher_cot"),
    log:
        f"{R}/logs/labels_teacher_cot/{{dataset}}/{{name}}.log",
    threads: job_cpus("light")
    resources:
        **job_resources("light"),
    script:
        "../workflow/scripts/labels_teacher_cot.py"


rule labels_teacher_qa:
    input:
        unpack(teacher_qa_inputs),
    output:
        training_set_path("teacher_qa"),
    log:
        f"{R}/logs/labels_teacher_qa/{{dataset}}/{{name}}.log",
    threads: job_cpus("light")
    resources:
        **job_resources("light"),
    params:
        kind=dataset_kind,
        questions=config["stages"]["teacher_qa"]["questions"],
    script:
        "../workflow/scripts/labels_teacher_qa.py"


rule labels_gold_sets:
    input:
        transfer=data_path("transfer"),
    output:
        gold=training_set_path("gold_sets", recipe="gold"),
    log:
        f"{R}/logs/labels_gold_sets/{{dataset}}.log",
    threads: job_cpus("light")
    resources:
        **job_resources("light"),
    params:
        kind=dataset_kind,
    script:
        "../workflow/scripts/labels_gold_sets.py"

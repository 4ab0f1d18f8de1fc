# Stage 1: the teacher's training sets (Q-CoT-A by rejection sampling or human
# solutions, Q-A), and the gold training set of the Weak/Strong baselines.


rule cot_filter:
    input:
        teacher_half=data_path("teacher"),
        model=cot_model_inputs,
    output:
        stage_output("cot_filter"),
    log:
        f"{R}/logs/cot_filter/{{dataset}}/{{name}}.log",
    threads: job_cpus("cot_filter", lambda wc: wc.name)
    resources:
        **job_resources("cot_filter", lambda wc: wc.name),
    params:
        kind=dataset_kind,
        model=unless_human_cot(lambda wc: model_location(wc.dataset, wc.name)),
        settings=unless_human_cot(lambda wc: config["stages"]["cot_filter"]),
        generation=unless_human_cot(generation_params("cot_filter", lambda wc: wc.name)),
        prompts=unless_human_cot(stage_prompts("cot_filter")),
        seed=lambda wc: job_seed(wc.name),
    script:
        "../workflow/scripts/cot_filter.py"


rule labels_teacher_cot:
    input:
        stage_output("cot_filter"),
    output:
        stage_output("labels_teacher_cot"),
    log:
        f"{R}/logs/labels_teacher_cot/{{dataset}}/{{name}}.log",
    threads: job_cpus("labels_teacher_cot")
    resources:
        **job_resources("labels_teacher_cot"),
    script:
        "../workflow/scripts/labels_teacher_cot.py"


rule labels_teacher_qa:
    input:
        unpack(teacher_qa_inputs),
    output:
        stage_output("labels_teacher_qa"),
    log:
        f"{R}/logs/labels_teacher_qa/{{dataset}}/{{name}}.log",
    threads: job_cpus("labels_teacher_qa")
    resources:
        **job_resources("labels_teacher_qa"),
    params:
        kind=dataset_kind,
        questions=config["stages"]["teacher_qa"]["questions"],
    script:
        "../workflow/scripts/labels_teacher_qa.py"


rule labels_gold_sets:
    input:
        transfer=data_path("transfer"),
    output:
        gold=stage_output("labels_gold_sets", "gold", method="gold"),
    log:
        f"{R}/logs/labels_gold_sets/{{dataset}}.log",
    threads: job_cpus("labels_gold_sets")
    resources:
        **job_resources("labels_gold_sets"),
    params:
        kind=dataset_kind,
    script:
        "../workflow/scripts/labels_gold_sets.py"

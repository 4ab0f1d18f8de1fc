# Base models converted from a GGUF file (source: gguf) or derived from another model
# (source: derived) into a plain model folder; input functions in common.smk.


rule build_gguf_model:
    input:
        gguf_input,
    output:
        directory(stage_output("build_gguf_model")),
    log:
        f"{R}/logs/build_gguf_model/{{name}}.log",
    wildcard_constraints:
        name="|".join(GGUF) or "(?!)",
    # Conversion runs on CPU: no GPU, memory and runtime still scaled by the model's size.
    threads: job_cpus("build_gguf_model", lambda wc: wc.name, cpu_only=True)
    resources:
        **job_resources("build_gguf_model", lambda wc: wc.name, cpu_only=True),
    params:
        settings=lambda wc: {k: MODELS[wc.name].get(k) for k in ("path", "file")},
        package=gguf_package,
    script:
        "../workflow/scripts/build_gguf_model.py"


rule build_derived_model:
    input:
        derived_source,
    output:
        directory(stage_output("build_derived_model")),
    log:
        f"{R}/logs/build_derived_model/{{name}}.log",
    wildcard_constraints:
        name="|".join(DERIVED) or "(?!)",
    # Rounding and dropping layers run on CPU in seconds.
    threads: job_cpus("build_derived_model", lambda wc: wc.name, cpu_only=True)
    resources:
        **job_resources("build_derived_model", lambda wc: wc.name, cpu_only=True),
    params:
        source=lambda wc: model_location("", MODELS[wc.name]["from"]),
        transform=lambda wc: MODELS[wc.name]["transform"],
    script:
        "../workflow/scripts/build_derived_model.py"

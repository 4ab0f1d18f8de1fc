# Base models converted from a GGUF file (source: gguf) into a plain model folder;
# its input functions are in common.smk.


rule build_gguf_model:
    input:
        gguf_input,
    output:
        directory(f"{R}/base_models/{{name}}"),
    log:
        f"{R}/logs/build_gguf_model/{{name}}.log",
    wildcard_constraints:
        name="|".join(GGUF) or "(?!)",
    # Conversion runs on CPU: no GPU, memory and runtime still scaled by the model's size.
    threads: job_cpus("light")
    resources:
        **job_resources("generate", lambda wc: wc.name) | {"gpu": 0, "cpus_per_task": job_cpus("light")},
    params:
        settings=lambda wc: {k: MODELS[wc.name].get(k) for k in ("path", "file")},
        package=gguf_package,
    script:
        "../workflow/scripts/build_gguf_model.py"

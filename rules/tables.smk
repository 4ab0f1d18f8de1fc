# Results tables: each a target; Snakemake works out the jobs behind its cells.

TABLE1_CELLS = plan.table1_cells(config["table1"])


rule table1:
    input:
        [f"{R}/eval/{cell['dataset']}/{cell['model']}.json" for cell in TABLE1_CELLS],
    output:
        markdown=f"{R}/tables/table1.md",
        csv=f"{R}/tables/table1.csv",
    params:
        cells=TABLE1_CELLS,
        text_datasets=[d for d in config["table1"]["datasets"] if dataset_spec(d).answer_type == "text"],
        code=code("table1.py"),
    log:
        f"{R}/logs/table1.log",
    resources:
        **job_resources("light"),
    script:
        "../workflow/scripts/table1.py"

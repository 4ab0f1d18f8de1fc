# Results tables: each one in config `tables` is a target rule of its name
# (`snakemake table2`); Snakemake works out the jobs behind its cells.


rule table:
    input:
        unpack(table_evaluations),
    output:
        markdown=stage_output("table", "markdown"),
        csv=report(
            stage_output("table", "csv"),
            caption="../resources/report/table_csv.rst",
            category="{table}",
            subcategory="1. Results",
        ),
        plot=report(
            stage_output("table", "plot"), caption="../resources/report/table.rst", category="{table}", subcategory="1. Results"
        ),
        comparisons=report(
            stage_output("table", "comparisons"),
            caption="../resources/report/comparisons.rst",
            category="{table}",
            subcategory="1. Results",
        ),
    log:
        f"{R}/logs/tables/{{table}}.log",
    wildcard_constraints:
        table="|".join(TABLES),
    threads: job_cpus("table")
    resources:
        **job_resources("table"),
    params:
        cells=lambda wc: TABLE_CELLS[wc.table],
        # the (dataset, key) evaluations of every seed, in the order of the inputs
        evaluations=lambda wc: PATHS.table_evaluations(wc.table),
        # per seed, the key each cell's model has in that seed's runs
        runs=lambda wc: PATHS.seed_runs(wc.table),
        title=lambda wc: TABLES[wc.table].get("title", wc.table),
        text_datasets=lambda wc: [d for d in TABLES[wc.table]["datasets"] if dataset_spec(d).answer.free_text],
        bootstrap=config["pgr"],
    script:
        "../workflow/scripts/table.py"


rule table_report:
    """Per-stage statistics, each artifact's settings and the training curves behind
    one table, for `snakemake --report`."""
    input:
        table=stage_output("table", "csv"),
    output:
        stages=report(
            stage_output("table_report", "stages"),
            caption="../resources/report/stages.rst",
            category="{table}",
            subcategory="3. Run statistics",
        ),
        settings=report(
            stage_output("table_report", "settings"),
            caption="../resources/report/settings.rst",
            category="{table}",
            subcategory="4. Settings",
        ),
        curves=report(
            stage_output("table_report", "curves"),
            caption="../resources/report/curves.rst",
            category="{table}",
            subcategory="2. Training curves",
        ),
    log:
        f"{R}/logs/table_report/{{table}}.log",
    wildcard_constraints:
        table="|".join(TABLES),
    threads: job_cpus("table_report")
    resources:
        **job_resources("table_report"),
    params:
        # the results folder the artifacts' paths start with, for the pages' stage
        # names: this job's own input is <results>/tables/<table>.csv (so the folder
        # is the one the job sees, under remote storage too)
        results=lambda wc, input: os.path.dirname(os.path.dirname(input.table)),
    script:
        "../workflow/scripts/table_report.py"


for _table in TABLES:

    rule:
        name:
            _table
        input:
            rules.table.output.markdown.format(table=_table),
            rules.table.output.csv.format(table=_table),
            rules.table.output.plot.format(table=_table),
            rules.table.output.comparisons.format(table=_table),
            rules.table_report.output.stages.format(table=_table),
            rules.table_report.output.settings.format(table=_table),
            rules.table_report.output.curves.format(table=_table),


rule export:
    """A table's training sets, teacher samples, clusters and uncertainty summaries as
    a folder in the Hugging Face datasets layout (alice_w2s.export): `snakemake
    --cores 1 results/export/table1`."""
    input:
        table=stage_output("table", "csv"),
    output:
        directory(stage_output("export")),
    log:
        f"{R}/logs/export/{{table}}.log",
    wildcard_constraints:
        table="|".join(TABLES),
    threads: job_cpus("export")
    resources:
        **job_resources("export"),
    params:
        results=lambda wc, input: os.path.dirname(os.path.dirname(input.table)),
        title=lambda wc: TABLES[wc.table].get("title", wc.table),
        # the config as given (not the commit the front page shows: it would rerun
        # the export at every commit, and config.yaml would not load as a config;
        # nor the tracking store, whose URI is no part of the data and may hold a login)
        config={k: v for k, v in config.items() if k not in ("_run", "tracking")},
    script:
        "../workflow/scripts/export.py"

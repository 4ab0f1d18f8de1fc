"""The workflow's stages, each declared once, in pipeline order.

A stage is one Snakemake rule (``rules/*.smk``) running one script
(``workflow/scripts/<rule>.py``). Its entry here says where its outputs go, which
``resources`` class its jobs ask the cluster for, whether it generates text (and so
which ``stages.<engine>`` entry of the config holds its backend and vLLM options),
which prompt templates it renders, and how the report titles its output folder.
The rules read their ``output:``, ``resources`` class and prompts from here; the
config's list of generating stages, the preflight's context check and the report's
sections are derived from it.

Adding a stage: an entry here, its rule (inputs, params, script), its script, and,
if it generates text, its ``stages.<rule>`` settings in the config schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Stage:
    rule: str  # the rule, and its script workflow/scripts/<rule>.py
    # Output path templates relative to the results folder, by output name ("" for a
    # rule's single unnamed output); Snakemake wildcards in braces.
    outputs: dict[str, str]
    resources: str  # the config's resources.<class> its jobs ask for
    # The report's title of the stage's output folder; the first stage writing into a
    # folder names it. None: the folder has no section of its own.
    title: str | None = None
    generates: bool = False  # generates text: its settings are the config's stages.<rule>
    # Templates it renders, under prompts.directory; "{answer_type}" is the dataset's.
    prompts: tuple[str, ...] = field(default=())
    directory: bool = False  # its output is a folder (a model, an export)
    # It makes training sets: the name methods know its output by (plan.Method.training_set).
    makes: str | None = None

    @property
    def folder(self) -> str:
        """The results folder its outputs go in."""
        return next(iter(self.outputs.values())).split("/")[0]


_QUESTION = "question/{answer_type}.txt"

STAGES: tuple[Stage, ...] = (
    Stage(
        "prepare_data",
        {
            "teacher": "data/{dataset}/teacher.parquet",
            "transfer": "data/{dataset}/transfer.parquet",
            "eval": "data/{dataset}/eval.parquet",
        },
        "light",
        title="Data",
    ),
    Stage("transfer_questions", {"": "data/{dataset}/transfer_questions.parquet"}, "light"),
    Stage("build_tokenizer", {"": "base_models/_tokenizer"}, "light", title="Tiny models", directory=True),
    Stage("build_tiny_model", {"": "base_models/{name}"}, "light", directory=True),
    Stage("build_gguf_model", {"": "base_models/{name}"}, "generate", directory=True),
    Stage("build_derived_model", {"": "base_models/{name}"}, "generate", directory=True),
    Stage(
        "cot_filter",
        {"": "cot/{dataset}/{name}.parquet"},
        "generate",
        title="CoT rejection sampling",
        generates=True,
        prompts=(_QUESTION, "cot/{answer_type}.txt"),
    ),
    # Training sets: each stage that makes them owns its folder, so no wildcard pattern
    # has to tell their outputs apart.
    Stage(
        "labels_teacher_cot",
        {"": "labels/{dataset}/teacher_cot/{name}.parquet"},
        "light",
        title="Training labels",
        makes="teacher_cot",
    ),
    Stage("labels_teacher_qa", {"": "labels/{dataset}/teacher_qa/{name}.parquet"}, "light", makes="teacher_qa"),
    # {method}: the gold method the set is for (the rule makes "gold")
    Stage("labels_gold_sets", {"gold": "labels/{dataset}/gold_sets/{method}.parquet"}, "light", makes="gold_sets"),
    Stage(
        "sample",
        {"": "samples/{dataset}/{teacher}/{pool}.parquet"},
        "sample",
        title="Teacher samples",
        generates=True,
        prompts=(_QUESTION,),
    ),
    Stage("cluster", {"": "clusters/{dataset}/{teacher}/{pool}.parquet"}, "cluster", title="Clusters"),
    Stage(
        "summarize_uncertainty",
        {"": "uncertainty/{dataset}/{teacher}/{pool}.parquet"},
        "generate",
        title="Uncertainty summaries",
        generates=True,
        prompts=("summarize/{answer_type}.txt",),
    ),
    Stage(
        "zeroshot",
        {"": "zeroshot/{dataset}/{name}/{pool}.parquet"},
        "generate",
        title="Student zero-shot",
        generates=True,
        prompts=(_QUESTION,),
    ),
    Stage(
        "synthesize",
        {"": "labels/{dataset}/synthesized/{key}.parquet"},
        "generate",
        generates=True,
        makes="synthesized",
        prompts=(
            "synthesize.txt",
            "synthesize_teacher.txt",
            "synthesize_teacher_no_uncertainty.txt",
            _QUESTION,
            "format/{answer_type}.txt",
            "synthesize_example/{answer_type}.txt",
        ),
    ),
    # a cascade's first link, whatever its method: the rows of its slice in the direct
    # pair's training set
    Stage("slice_labels", {"": "labels/{dataset}/sliced/{key}.parquet"}, "light", makes="sliced"),
    Stage(
        "w2s_answers",
        {"": "w2s_answers/{dataset}/{teacher}/{pool}.parquet"},
        "generate",
        title="Original W2SG answers",
        generates=True,
        prompts=(_QUESTION,),
        makes="w2s_answers",
    ),
    Stage("sft", {"": "models/{dataset}/{key}"}, "sft", title="Fine-tuning", prompts=(_QUESTION,), directory=True),
    Stage(
        "eval",
        {"per_item": "eval/{dataset}/{key}.parquet", "summary": "eval/{dataset}/{key}.json"},
        "generate",
        title="Evaluation",
        generates=True,
        prompts=(_QUESTION,),
    ),
    Stage("label_quality", {"": "label_quality/{dataset}/{key}.json"}, "light"),
    Stage(
        "table",
        {
            "markdown": "tables/{table}.md",
            "csv": "tables/{table}.csv",
            "plot": "tables/{table}.png",
            "comparisons": "tables/{table}.comparisons.csv",
        },
        "light",
    ),
    Stage(
        "table_report",
        {
            "stages": "report/{table}/stages.html",
            "settings": "report/{table}/settings.html",
            "curves": "report/{table}/curves.png",
        },
        "light",
    ),
    Stage("export", {"": "export/{table}"}, "light", directory=True),
)

BY_RULE: dict[str, Stage] = {stage.rule: stage for stage in STAGES}

# Where each maker of training sets writes them (plan.Method.training_set names one).
# Fields: {dataset}, {key}, {name} (the trained base model), {method}, {teacher} (a
# single-teacher student's teacher key), {pool}.
TRAINING_SETS: dict[str, str] = {s.makes: next(iter(s.outputs.values())) for s in STAGES if s.makes}

# The stages that generate text, in pipeline order: their config entries are stages.<rule>.
GENERATING: tuple[str, ...] = tuple(stage.rule for stage in STAGES if stage.generates)


def stage(rule: str) -> Stage:
    try:
        return BY_RULE[rule]
    except KeyError:
        raise ValueError(f"no stage {rule!r} in alice_w2s.pipeline.STAGES") from None


def output(rule: str, name: str = "") -> str:
    """One output path template of a stage, relative to the results folder."""
    outputs = stage(rule).outputs
    if name not in outputs:
        raise ValueError(f"stage {rule!r} has no output {name!r}; it has {', '.join(map(repr, outputs))}")
    return outputs[name]


def folder_titles() -> dict[str, str]:
    """Results folder -> its report section, in pipeline order."""
    titles: dict[str, str] = {}
    for entry in STAGES:
        if entry.title is not None:
            titles.setdefault(entry.folder, entry.title)
    return titles

"""Where a run's files are, and which files each job reads: the rules' input
functions as plain code (``rules/common.smk`` wraps them for Snakemake).

Every path is the results folder plus a stage's output template
(``alice_w2s.pipeline``), with the fields a job knows filled in; fields not given
stay Snakemake wildcards (``{dataset}``). Which model a key loads and which training
set it learns from are ``alice_w2s.plan``'s decisions; this module only turns them
into files.
"""

from __future__ import annotations

from alice_w2s import pipeline, plan
from alice_w2s.datasets.registry import DatasetSpec, get_spec
from alice_w2s.run_settings import is_served, served_location

# Sources whose base model the workflow builds, and the rule that builds it.
BUILDERS = {"tiny": "build_tiny_model", "gguf": "build_gguf_model", "derived": "build_derived_model"}


class JobPaths:
    """The files of one validated config's run."""

    def __init__(self, config: dict):
        self.config = config
        self.results = config["results"]
        self.models = config["models"]

    def output(self, rule: str, which: str = "", /, **fields: object) -> str:
        """An output of ``rule`` (by name, if it has several) under the results folder."""
        template = pipeline.output(rule, which)
        for field, value in fields.items():
            template = template.replace(f"{{{field}}}", str(value))
        return f"{self.results}/{template}"

    def outputs(self, rule: str) -> dict[str, str]:
        """Every named output of ``rule``, wildcards left in."""
        return {name: self.output(rule, name) for name in pipeline.stage(rule).outputs}

    def data(self, part: str, **fields: object) -> str:
        """A dataset's file: a part prepare_data writes (teacher, transfer, eval) or
        the gold-free pool (transfer_questions)."""
        if part == "transfer_questions":
            return self.output(part, **fields)
        return self.output("prepare_data", part, **fields)

    # --- models -----------------------------------------------------------------------

    def base_model_dir(self, name: str) -> str:
        """The folder the workflow builds base model ``name`` in (a BUILDERS source)."""
        return self.output(BUILDERS[self.models[name]["source"]], name=name)

    def model_files(self, dataset: str, key: str) -> list[str]:
        """Files a job needs to load model ``key`` (none for hub and served models)."""
        parsed = plan.parse_key(key)
        if not parsed.is_base:
            return [self.output("sft", dataset=dataset, key=key)]
        if self.models[parsed.name]["source"] in BUILDERS:
            return [self.base_model_dir(parsed.name)]
        return []

    def model_location(self, dataset: str, key: str) -> dict:
        """What the backends load for ``key``: a folder, a hub id (with revision) or a server."""
        parsed = plan.parse_key(key)
        if not parsed.is_base:
            return {"path": self.output("sft", dataset=dataset, key=key), "revision": None}
        model = self.models[parsed.name]
        if model["source"] in BUILDERS:
            return {"path": self.base_model_dir(parsed.name), "revision": None}
        if is_served(model):
            return served_location(model, self.config)
        return {"path": model["path"], "revision": model.get("revision")}

    # --- training sets and what they are made from ---------------------------------------

    def training_set(self, dataset: str, key: str | plan.ModelKey) -> str:
        """The labels file a trained model ``key`` is fine-tuned on (plan decides which);
        one file for every seed where the labels are made with no randomness."""
        parsed = plan.parse_key(key) if isinstance(key, str) else key
        if self.labels_seed_free(dataset, parsed):
            parsed = plan.unseeded(parsed)
        return f"{self.results}/{plan.training_set(dataset, parsed)}"

    def labels_seed_free(self, dataset: str, key: plan.ModelKey) -> bool:
        """The training set is the same in every seed's runs: gold labels; Q-CoT-A labels
        from human worked solutions (no CoT filter generates them); Q-A labels, which
        are gold answers, of the whole teacher half or of human-CoT survivors."""
        maker = plan.training_set_maker(key)
        human_cot = self.dataset_spec(dataset).has_human_cot
        if maker == "teacher_qa":
            return human_cot or self.config["stages"]["teacher_qa"]["questions"] == "teacher_half"
        if maker == "teacher_cot":
            return human_cot
        return maker == "gold_sets"

    # --- seeds -------------------------------------------------------------------------

    def run_seed(self, key: str) -> int:
        """The seed a job on ``key`` (a model key or a seeded base name) samples and
        trains with: its ``.sN``, else the config's ``seed``."""
        seed = plan.parse_key(key).seed
        return self.config["seed"] if seed is None else seed

    def key_in_seed(self, key: str, seed: int) -> str:
        """A table's model key in the runs of ``seed``. A base model's greedy evaluation
        (stages.eval.temperature 0) serves every seed; all else is run per seed."""
        parsed = plan.parse_key(key)
        if parsed.is_base and self.config["stages"]["eval"]["temperature"] == 0:
            return key
        return plan.with_seed(parsed, seed, self.config["seed"])

    def seed_runs(self, table: str) -> list[dict]:
        """Per seed of the config's ``seeds``: the key each of a table's models (cells,
        baselines included) is evaluated under in that seed's runs."""
        cells = plan.table_cells(self.config["tables"][table])
        keys = dict.fromkeys(key for _, key in plan.cell_models(cells))
        return [{"seed": s, "keys": {k: self.key_in_seed(k, s) for k in keys}} for s in self.config["seeds"]]

    def dataset_spec(self, dataset: str) -> DatasetSpec:
        """The registry entry of a configured dataset's kind."""
        return get_spec(self.config["datasets"][dataset]["kind"])

    def cot_model(self, dataset: str, name: str) -> list[str]:
        """The model the CoT filter generates with: none where the dataset has human
        worked solutions (GSM8K-like)."""
        if self.dataset_spec(dataset).has_human_cot:
            return []
        return self.model_files(dataset, name)

    def teacher_qa_inputs(self, dataset: str, name: str) -> dict[str, str]:
        """The teacher half, and the CoT filter's output when the Q-A teacher trains
        on the questions whose CoT survived (stages.teacher_qa.questions: cot_survivors)."""
        inputs = {"teacher_half": self.data("teacher", dataset=dataset)}
        if self.config["stages"]["teacher_qa"]["questions"] == "cot_survivors":
            inputs["cot"] = self.output("cot_filter", dataset=dataset, name=name)
        return inputs

    def teacher_files(self, maker: str, dataset: str, key: plan.ModelKey) -> list[str]:
        """Per teacher of an Alice student ``key``, the output of rule ``maker``
        (cluster or summarize_uncertainty) on the student's pool."""
        return [self.output(maker, dataset=dataset, teacher=t, pool=key.work_pool) for t in plan.teachers_of(key)]

    def synthesis_inputs(self, dataset: str, key: str) -> dict:
        """Per teacher, its uncertainty summary (or, without uncertainty, only its
        clusters: no summarizer job runs), and the student's own zero-shot answers.
        A base student answers the whole pool once, for every link and experiment it
        is in (one greedy pass, cheap next to K teacher samples); synthesis picks rows."""
        parsed = plan.check_training_set_maker(key, "synthesized")
        maker, name = ("summarize_uncertainty", "uncertainty") if parsed.uses_uncertainty else ("cluster", "clusters")
        return {
            "transfer": self.data("transfer_questions", dataset=dataset),
            name: self.teacher_files(maker, dataset, parsed),
            "zeroshot": self.output("zeroshot", dataset=dataset, name=parsed.seeded_name, pool="all"),
            "model": self.model_files(dataset, parsed.name),
        }

    def label_quality_inputs(self, dataset: str, key: str) -> dict:
        """A trained model's training set and the gold rows it is scored against; for
        an Alice student also its teachers' clusters (their final answers, for the 2x2)."""
        inputs: dict = {
            "labels": self.training_set(dataset, key),
            "teacher": self.data("teacher", dataset=dataset),
            "transfer": self.data("transfer", dataset=dataset),
        }
        parsed = plan.parse_key(key)
        if plan.training_set_maker(parsed) == "synthesized":
            inputs["clusters"] = self.teacher_files("cluster", dataset, parsed)
        return inputs

    # --- tables ----------------------------------------------------------------------

    def table_inputs(self, table: str) -> dict[str, list[str]]:
        """Per-item results and summaries of every model a table reads, PGR baselines
        included, and the label quality of each one that was fine-tuned."""
        needed = self.table_evaluations(table)
        trained = [(d, k) for d, k in needed if not plan.parse_key(k).is_base]
        return {
            "summaries": [self.output("eval", "summary", dataset=d, key=k) for d, k in needed],
            "per_item": [self.output("eval", "per_item", dataset=d, key=k) for d, k in needed],
            "label_quality": [self.output("label_quality", dataset=d, key=k) for d, k in trained],
        }

    def table_evaluations(self, table: str) -> list[tuple[str, str]]:
        """The (dataset, key) evaluations a table reads over all its seeds, in the
        order of plan.cell_models per seed, each once."""
        cells = plan.table_cells(self.config["tables"][table])
        needed = plan.cell_models(cells)
        runs = self.seed_runs(table)
        return list(dict.fromkeys((d, run["keys"][k]) for run in runs for d, k in needed))

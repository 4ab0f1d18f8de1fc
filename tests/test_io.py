import os

import pandas as pd
import pytest

from alice_w2s.io import atomic_path, write_parquet


def test_a_crash_leaves_nothing_half_written(tmp_path):
    target = tmp_path / "out.parquet"
    with pytest.raises(RuntimeError), atomic_path(target, ".parquet") as tmp:
        tmp.write_text("partial")
        raise RuntimeError("job died")
    assert list(tmp_path.iterdir()) == []


def test_written_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        write_parquet(pd.DataFrame({"a": [1]}), tmp_path / "x.parquet")
    finally:
        os.umask(old)
    assert (tmp_path / "x.parquet").stat().st_mode & 0o777 == 0o644


def test_artifact_path_inverts_manifest_path(tmp_path) -> None:
    from alice_w2s.io import artifact_path, manifest_path

    folder = tmp_path / "models" / "m"
    folder.mkdir(parents=True)
    table = tmp_path / "labels" / "a~b@alice.parquet"
    for artifact in (folder, table):
        assert artifact_path(manifest_path(artifact)) == artifact
    assert manifest_path(table).name == "a~b@alice.parquet.manifest.json"

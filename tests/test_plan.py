
import pytest

from alice_w2s import plan
from alice_w2s.pools import select_pool


def test_keys_round_trip():
    keys = ["qwen-1.5b", "qwen-1.5b@teacher-cot", "a@gold", "a~b@alice", "a~b@alice.c2", "a~b~c@alice", "a~b@w2s-qa",
            "a+b~c@alice", "a~b~c@alice-no-unc", "a+b~c~d@alice.c3"]
    for key in keys:
        assert str(plan.parse_key(key)) == key


def test_single_turn_teacher_is_the_fine_tuned_base():
    assert str(plan.teacher_of(plan.parse_key("a~b@alice"))) == "a@teacher-cot"
    assert str(plan.teacher_of(plan.parse_key("a~b@w2s-cot"))) == "a@teacher-cot"
    assert str(plan.teacher_of(plan.parse_key("a~b@w2s-qa"))) == "a@teacher-qa"


def test_cascade_links_and_pools_for_any_length():
    last = plan.parse_key("a~b~c~d@alice")
    assert last.pool == "s3of3"
    middle = plan.teacher_of(last)
    assert str(middle) == "a~b~c@alice.c3" and middle.pool == "s2of3"
    first = plan.teacher_of(middle)
    assert str(first) == "a~b@alice.c3" and first.pool == "s1of3"
    assert str(plan.teacher_of(first)) == "a@teacher-cot"
    assert plan.parse_key("a~b@alice").pool == "all"


def test_first_links_work_on_the_whole_pool_and_slice_the_direct_labels():
    first = plan.parse_key("a~b@alice.c3")
    assert first.is_sliced and first.work_pool == "all" and first.pool == "s1of3"
    assert str(plan.direct_of(first)) == "a~b@alice"
    later = plan.parse_key("a~b~c@alice.c3")
    assert not later.is_sliced and later.work_pool == later.pool == "s2of3"
    assert not plan.parse_key("a~b@alice").is_sliced
    with pytest.raises(ValueError):
        plan.direct_of(later)


def test_several_teachers_and_the_ablation():
    multi = plan.parse_key("a+b~c@alice")
    assert [str(t) for t in plan.teachers_of(multi)] == ["a@teacher-cot", "b@teacher-cot"]
    assert multi.base_models == ("a", "b", "c") and multi.name == "c"
    with pytest.raises(ValueError):
        plan.teacher_of(multi)
    cascade = plan.parse_key("a+b~c~d@alice")
    assert [str(t) for t in plan.teachers_of(cascade)] == ["a+b~c@alice.c2"]
    ablation = plan.parse_key("a~b~c@alice-no-unc")
    assert ablation.is_alice and not ablation.uses_uncertainty and multi.uses_uncertainty
    assert str(plan.teacher_of(ablation)) == "a~b@alice-no-unc.c2"
    assert str(plan.teacher_of(plan.teacher_of(ablation))) == "a@teacher-cot"


@pytest.mark.parametrize(
    ("key", "path"),
    [
        ("a@teacher-cot", "labels/d/teacher_cot/a.parquet"),
        ("a@teacher-qa", "labels/d/teacher_qa/a.parquet"),
        ("a@gold", "labels/d/gold_sets/gold.parquet"),
        ("a~b@w2s-cot", "w2s_answers/d/a@teacher-cot/all.parquet"),
        ("a~b~c@w2s-qa", "w2s_answers/d/a~b@w2s-qa.c2/s2of2.parquet"),
        ("a+b~c@alice", "labels/d/synthesized/a+b~c@alice.parquet"),
        ("a~b~c@alice-no-unc", "labels/d/synthesized/a~b~c@alice-no-unc.parquet"),
        # a cascade's first link, whatever its method, is a slice of the direct pair's set
        ("a~b@alice.c2", "labels/d/sliced/a~b@alice.c2.parquet"),
        ("a~b@w2s-qa.c3", "labels/d/sliced/a~b@w2s-qa.c3.parquet"),
    ],
)
def test_plan_names_each_training_set_and_its_maker(key, path):
    assert plan.training_set("d", key) == path
    maker = plan.training_set_maker(key)
    assert plan.check_training_set_maker(key, maker) == plan.parse_key(key)
    other = next(m for m in plan.TRAINING_SETS if m != maker)
    with pytest.raises(ValueError, match=f"not made by {other}"):
        plan.check_training_set_maker(key, other)


def test_each_training_set_maker_owns_its_own_folder():
    """No two makers' locations can hold the same file, whatever the wildcards."""
    folders = [template.split("{", 1)[0] + template.split("}", 1)[1].split("{", 1)[0] for template in plan.TRAINING_SETS.values()]
    assert len(set(folders)) == len(folders), folders
    assert {r.training_set for r in plan.METHODS.values()} | {"sliced"} == set(plan.TRAINING_SETS)
    with pytest.raises(ValueError, match="base model"):
        plan.training_set("d", "a")


def test_methods_decide_roles_teachers_and_uncertainty():
    assert {r.sft_role for r in plan.METHODS.values()} == set(plan.SFT_ROLE_NAMES)
    assert [plan.sft_role(r) for r in ("teacher-cot", "teacher-qa", "gold", "alice", "w2s-qa")] == [
        "teacher", "teacher", "baseline", "student", "student"]
    assert plan.parse_key("a~b@alice").uses_uncertainty and not plan.parse_key("a~b@w2s-cot").uses_uncertainty


def test_a_new_method_is_one_entry_in_plan(monkeypatch):
    """An Alice-like method needs only its METHODS entry for keys, teachers and labels."""
    methods = {**plan.METHODS, "alice-qa": plan.Method("synthesized", "student", "teacher-qa", several_teachers=True)}
    monkeypatch.setattr(plan, "METHODS", methods)
    key = plan.parse_key("a+b~c~d@alice-qa")
    assert key.is_alice and not key.uses_uncertainty
    assert [str(t) for t in plan.teachers_of(plan.teacher_of(key))] == ["a@teacher-qa", "b@teacher-qa"]
    assert plan.training_set("d", key) == "labels/d/synthesized/a+b~c~d@alice-qa.parquet"
    assert plan.training_set("d", plan.teacher_of(key)) == "labels/d/sliced/a+b~c@alice-qa.c2.parquet"


@pytest.mark.parametrize(
    "bad", ["a~b", "a@nope", "a@alice", "a~b@gold", "a~b~c@alice.c1", "a/b@gold", "", "a+b@gold", "a+b~c@w2s-cot",
            "a~b+c~d@alice", "a+a~b@alice"]
)
def test_bad_keys_are_refused(bad):
    with pytest.raises(ValueError):
        plan.parse_key(bad)


def test_pools_cut_consecutive_disjoint_slices():
    slices = [select_pool(10, f"s{k}of3") for k in (1, 2, 3)]
    covered = [i for s in slices for i in range(10)[s]]
    assert covered == list(range(10))
    assert select_pool(10, "all") == slice(0, 10)
    with pytest.raises(ValueError):
        select_pool(10, "s4of3")


def test_table1_blocks_expand_a_chain_into_five_rows():
    cells = plan.table_cells({"blocks": [{"name": "b", "chain": ["w", "m", "s"]}], "datasets": ["d1", "d2"]})
    assert len(cells) == 5 * 2
    # original W2SG: weak -> strong directly unless the block asks for the cascade
    assert {c["model"] for c in cells} == {"w@gold", "w~s@w2s-qa", "w~s@w2s-cot", "w~m~s@alice", "s@gold"}
    cascade = plan.table_cells({"blocks": [{"name": "b", "chain": ["w", "m", "s"], "w2s_baseline": "cascade"}], "datasets": ["d"]})
    assert {c["model"] for c in cascade} == {"w@gold", "w~m~s@w2s-qa", "w~m~s@w2s-cot", "w~m~s@alice", "s@gold"}
    alice = next(c for c in cells if c["row"] == "Alice")
    assert (alice["weak"], alice["strong"], alice["setting"]) == ("w@gold", "s@gold", "w -> m -> s")
    assert all(c["weak"] is None for c in cells if c["row"] in ("Weak", "Strong"))


def test_listed_rows_take_their_baselines_from_the_chain_or_the_row():
    table = {"datasets": ["d"], "blocks": [{"name": "b", "rows": [
        {"label": "Mix", "model": "a+b~c@alice"},
        {"label": "Own", "model": "b~c@alice", "weak": "a@gold", "setting": "custom"},
    ]}]}
    mix, own = plan.table_cells(table)
    assert (mix["weak"], mix["strong"], mix["setting"]) == ("a@gold", "c@gold", "a + b -> c")
    assert (own["weak"], own["setting"]) == ("a@gold", "custom")
    assert plan.cell_models([mix, own]) == [("d", "a+b~c@alice"), ("d", "a@gold"), ("d", "c@gold"), ("d", "b~c@alice")]


def test_the_schema_offers_overrides_for_exactly_the_sft_roles_plan_knows():
    from alice_w2s.config import load_schema

    schema = load_schema()
    roles = schema["properties"]["sft"]["properties"]["roles"]["properties"]
    assert set(roles) == set(plan.SFT_ROLE_NAMES)

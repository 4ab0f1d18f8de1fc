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

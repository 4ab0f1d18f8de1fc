import pytest

from alice_w2s import plan


def test_keys_round_trip():
    for key in ["qwen-1.5b", "qwen-1.5b@teacher-cot", "a@gold", "a~b@alice", "a~b@alice.c2", "a~b~c@alice", "a~b@w2s-qa"]:
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


@pytest.mark.parametrize("bad", ["a~b", "a@nope", "a@alice", "a~b@gold", "a~b~c@alice.c1", "a/b@gold", ""])
def test_bad_keys_are_refused(bad):
    with pytest.raises(ValueError):
        plan.parse_key(bad)


def test_pools_cut_consecutive_disjoint_slices():
    slices = [plan.select_pool(10, f"s{k}of3") for k in (1, 2, 3)]
    covered = [i for s in slices for i in range(10)[s]]
    assert covered == list(range(10))
    assert plan.select_pool(10, "all") == slice(0, 10)
    with pytest.raises(ValueError):
        plan.select_pool(10, "s4of3")


def test_table1_cells_cover_rows_and_datasets():
    cells = plan.table1_cells({"blocks": [{"name": "b", "weak": "w", "strong": "s"}], "datasets": ["d1", "d2"]})
    assert len(cells) == 5 * 2
    assert {c["model"] for c in cells} == {"w@gold", "w~s@w2s-qa", "w~s@w2s-cot", "w~s@alice", "s@gold"}

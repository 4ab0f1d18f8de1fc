import pytest

from alice_w2s import answers


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("so 3 + 4 = 7\n#### 7", "7"),
        ("#### 1,234", "1234"),
        ("#### $12.", "12"),
        ("#### 2.50", "2.5"),
        ("first #### 3 then #### -4", "-4"),
        ("the answer is 7", None),
        (None, None),
    ],
)
def test_number_extraction(response, expected):
    assert answers.extract("number", response) == expected


def test_choice_extraction_takes_the_last_sentence():
    text = "So the correct choice is A. Hmm, no. So the correct choice is (c)."
    assert answers.extract("choice", text) == "C"
    assert answers.extract("choice", "I pick B") is None


def test_text_extraction_prefers_the_answer_marker():
    assert answers.extract("text", "It flows north.\nAnswer: The Nile.") == "The Nile"
    assert answers.extract("text", "line one\nParis") == "Paris"
    assert answers.extract("text", "   ") is None


def test_labels_round_trip_through_extraction():
    for answer_type, gold in [("number", "42"), ("choice", "D"), ("text", "Mirad")]:
        assert answers.extract(answer_type, "reasoning.\n" + answers.format_final(answer_type, gold)) == gold


def test_unparsable_is_wrong_not_dropped():
    s = answers.score("number", "no idea", "5")
    assert not s.parsed and not s.correct and s.exact_match == 0.0


def test_number_scoring_is_numeric():
    assert answers.score("number", "#### 5.0", "5").correct
    assert not answers.score("number", "#### 6", "5").correct


def test_text_contain_match_and_squad_metrics():
    s = answers.score("text", "I think it is the river Kalo.\nAnswer: Kalo River", "Kalo", ["Kalo River"])
    assert s.correct  # gold contained in the response (the paper's metric)
    assert s.exact_match == 1.0  # alias matches after normalisation
    assert s.f1 == 1.0
    miss = answers.score("text", "Answer: Paris", "Lyon")
    assert not miss.correct and miss.f1 == 0.0


def test_token_f1_partial_overlap():
    assert answers.token_f1("the big red house", "red house") == pytest.approx(2 * (2 / 3) * 1 / (2 / 3 + 1))

"""The ICD-10-CM code system checked against the `simple-icd-10-cm` tabular list it is built on."""

import random
import re

import pytest
import simple_icd_10_cm as icd
from hypothesis import given, settings
from hypothesis import strategies as st

from plant_core.codes import (
    CodeMatch,
    InvalidCodeError,
    UnknownCodeError,
    billable_codes,
    chapter,
    description,
    inclusion_terms,
    is_billable,
    is_valid,
    normalize,
    parents,
    search,
)

# Every code of the package's tabular list (category and below), read independently of plant_core.
PACKAGE_CODES = sorted(
    {name for name in icd.get_all_codes(with_dots=True) if "-" not in name and not name.isdigit()}
)
SAMPLE = random.Random(0).sample(PACKAGE_CODES, 300)


@pytest.mark.parametrize("spelling", ["E11.9", "e119", "E119", " e11.9 ", "\tE11.9\n"])
def test_normalize_accepts_every_spelling_of_a_code(spelling):
    assert normalize(spelling) == "E11.9"


@pytest.mark.parametrize(
    ("spelling", "code"), [("i10", "I10"), ("s72001a", "S72.001A"), ("qa0.0101", "QA0.0101")]
)
def test_normalize_handles_categories_and_seventh_characters(spelling, code):
    assert normalize(spelling) == code


def test_normalize_restores_the_dot_of_package_codes():
    for code in SAMPLE:
        assert normalize(icd.remove_dot(code)) == code
        assert normalize(code.lower()) == code


@pytest.mark.parametrize(
    "malformed",
    ["", "   ", "E", "E1", "11.9", "E11.", "E11.99999", "E11 .9", "E.119", "E08-E13", "4", "É11.9"],
)
def test_malformed_code_raises_invalid_code_error_naming_it(malformed):
    with pytest.raises(InvalidCodeError, match=re.escape(repr(malformed))):
        normalize(malformed)
    assert not is_valid(malformed)


@pytest.mark.parametrize("unknown", ["E11.99", "Z99.99", "A00.7", "U99", "S72.001Z"])
def test_well_formed_code_not_in_icd10cm_raises_unknown_code_error_naming_it(unknown):
    assert not icd.is_valid_item(unknown)
    with pytest.raises(UnknownCodeError, match=re.escape(unknown)):
        normalize(unknown)
    assert not is_valid(unknown)


def test_is_valid_at_every_level_and_never_raises():
    assert all(is_valid(code) for code in ["E11", "E11.2", "E11.22", "e1122", "S72.001A"])
    assert not is_valid(None)
    assert not is_valid(119)


def test_lookups_of_unknown_code_raise_unknown_code_error():
    for lookup in (is_billable, description, inclusion_terms, parents, chapter):
        with pytest.raises(UnknownCodeError, match="E11.99"):
            lookup("E11.99")


def test_leaves_are_billable_and_their_ancestors_are_not():
    assert is_billable("E11.9") and is_billable("e1122") and is_billable("I10") and is_billable("S72.001A")
    assert not is_billable("E11") and not is_billable("E11.2") and not is_billable("S72.001")
    assert not is_billable("E08-E13")


def test_billable_codes_are_exactly_the_package_leaves_sorted():
    codes = billable_codes()
    assert codes == sorted(code for code in PACKAGE_CODES if icd.is_leaf(code))
    assert len(codes) > 70_000
    assert "E11.9" in codes and "E11" not in codes


def test_description_and_inclusion_terms_match_the_package():
    for code in SAMPLE:
        assert description(code) == icd.get_description(code)
        assert inclusion_terms(code.replace(".", "").lower()) == icd.get_inclusion_term(code)
    assert description("e119") == "Type 2 diabetes mellitus without complications"
    assert "Congestive heart failure NOS" in inclusion_terms("I50.9")


def test_parents_run_nearest_first_up_to_the_block():
    assert parents("E11.22") == ["E11.2", "E11", "E08-E13"]
    assert parents("I10") == ["I10-I1A"]
    assert parents("E08-E13") == []
    # B10 names both a single-category block and its category: listed once.
    assert parents("B10.01") == ["B10.0", "B10"]
    for code in SAMPLE:
        chain = parents(code)
        assert set(chain) <= set(icd.get_ancestors(code))
        assert chain[0] == icd.get_parent(code) or icd.get_parent(code) == code
        assert icd.is_block(chain[-1]) and not any(icd.is_chapter(ancestor) for ancestor in chain)


def test_block_is_accepted_where_a_breadcrumb_needs_it():
    assert description("e08-e13") == "Diabetes mellitus (E08-E13)"
    assert chapter("E08-E13") == chapter("E11.22")


def test_chapter_gives_number_and_title():
    assert chapter("E11.22") == ("4", "Endocrine, nutritional and metabolic diseases (E00-E89)")
    assert chapter("S72.001A")[0] == "19"
    for code in SAMPLE:
        number, title = chapter(code)
        assert icd.is_chapter(number) and title == icd.get_description(number)


def codes_of(matches: list[CodeMatch]) -> list[str]:
    return [match.code for match in matches]


@pytest.mark.parametrize("query", ["e119", "E11.9", "E119", " e11.9 "])
def test_search_puts_the_exact_code_first(query):
    matches = search(query)
    assert matches[0] == CodeMatch("E11.9", description("E11.9"), 2.0, True)


@pytest.mark.parametrize("query", ["e11", "E11.", "e1"])
def test_code_prefix_search_lists_codes_under_the_prefix_shorter_first(query):
    matches = search(query, limit=50)
    prefix = query.upper().replace(".", "")
    assert len(matches) == 50
    assert all(code.replace(".", "").startswith(prefix) for code in codes_of(matches))
    lengths = [len(code) for code in codes_of(matches)]
    assert lengths == sorted(lengths)


def test_code_shaped_query_is_read_as_words_only_when_no_code_starts_with_it():
    assert codes_of(search("F32.A")) == ["F32.A"]
    assert "D51.0" in codes_of(search("b12"))


def test_word_search_finds_essential_hypertension():
    assert "I10" in codes_of(search("essential hypertension", limit=5))
    assert codes_of(search("Essential Hypertension!"))[0] == "I10"


def test_word_search_reads_inclusion_terms():
    assert "I10" in codes_of(search("high blood pressure", limit=3))
    assert "I50.9" in codes_of(search("congestive heart failure NOS", limit=5))


def test_word_search_ranks_codes_matching_every_word_first():
    matches = search("type 2 diabetes chronic kidney", limit=10)
    assert codes_of(matches)[0] == "E11.22"
    assert matches[0].score == 1.0 and matches[-1].score < 1.0


def test_word_prefixes_match():
    assert "E11.21" in codes_of(search("diab nephro", limit=10))
    assert "G30.9" in codes_of(search("alzheimer", limit=10))
    assert "G30.9" in codes_of(search("Alzheimer\u2019s", limit=10))
    assert "H81.09" in codes_of(search("meniere", limit=10))


def test_search_results_are_sorted_by_score():
    for query in ["e11", "d", "diab", "fracture of femur", "I10", "b12"]:
        scores = [match.score for match in search(query, limit=40)]
        assert scores == sorted(scores, reverse=True)


def test_search_honours_limit():
    assert len(search("fracture", limit=7)) == 7
    assert len(search("e11", limit=3)) == 3
    assert len(search("e119", limit=1)) == 1
    with pytest.raises(ValueError, match="limit"):
        search("e11", limit=0)


def test_search_billable_only_returns_only_billable_codes():
    for query in ["e11", "diabetes", "s72"]:
        matches = search(query, limit=30, billable_only=True)
        assert len(matches) == 30
        assert all(match.billable and is_billable(match.code) for match in matches)
    assert "E11" in codes_of(search("e11"))
    assert "E11" not in codes_of(search("e11", billable_only=True))


def test_search_reports_description_and_billability_of_each_code():
    for match in search("asthma", limit=30):
        assert match.description == description(match.code)
        assert match.billable == is_billable(match.code)
        assert 0 < match.score <= 1


@pytest.mark.parametrize("query", ["", "   ", "!!!", "中文", "\x00", "-.-"])
def test_search_with_nothing_to_match_returns_nothing(query):
    assert search(query) == []


def test_search_survives_very_long_query():
    assert len(search("diabetes " * 10_000, limit=5)) == 5


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(),
        st.from_regex(r"\s*[A-Za-z][0-9A-Za-z]{2}\.?[0-9A-Za-z]{0,5}\s*", fullmatch=True),
        st.sampled_from(PACKAGE_CODES).map(lambda code: code.replace(".", "").lower()),
    )
)
def test_normalize_returns_a_valid_code_or_raises_a_code_error(text):
    try:
        code = normalize(text)
    except (InvalidCodeError, UnknownCodeError) as error:
        assert repr(text) in str(error)
        return
    assert code in PACKAGE_CODES
    assert normalize(code) == code


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=60), st.integers(min_value=1, max_value=30), st.booleans())
def test_search_never_crashes(query, limit, billable_only):
    matches = search(query, limit=limit, billable_only=billable_only)
    assert len(matches) <= limit
    assert len(set(codes_of(matches))) == len(matches)

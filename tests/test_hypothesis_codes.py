"""Property-based tests (hypothesis) of the ICD-10-CM code normaliser: every spelling of a real code
gives its one canonical form, and any other text fails with one of the two named errors."""

from hypothesis import given, settings
from hypothesis import strategies as st

from plant_core import codes

REAL_CODES = st.sampled_from(codes.billable_codes())


def spellings(code: str) -> st.SearchStrategy[str]:
    """What people type for a code: any letter case, with or without its dot, padded with spaces."""
    undotted = code.replace(".", "")
    return st.tuples(
        st.sampled_from([code, undotted]),
        st.sampled_from([str.upper, str.lower, str.swapcase]),
        st.sampled_from(["", " ", "\t"]),
        st.sampled_from(["", " ", "\n"]),
    ).map(lambda parts: parts[2] + parts[1](parts[0]) + parts[3])


@settings(max_examples=300, deadline=None)
@given(REAL_CODES.flatmap(lambda code: st.tuples(st.just(code), spellings(code))))
def test_every_spelling_of_a_code_normalises_to_the_code(case):
    code, typed = case
    assert codes.normalize(typed) == code
    assert codes.is_valid(typed)


@settings(max_examples=300, deadline=None)
@given(REAL_CODES)
def test_normalising_is_idempotent(code):
    once = codes.normalize(code)
    assert codes.normalize(once) == once and codes.description(once)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=40))
def test_any_text_is_a_code_or_a_named_error(text):
    try:
        canonical = codes.normalize(text)
    except (codes.InvalidCodeError, codes.UnknownCodeError) as e:
        assert repr(text) in str(e)
        assert not codes.is_valid(text)
    else:
        assert codes.is_valid(canonical) and canonical == canonical.strip().upper()

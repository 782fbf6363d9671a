"""Text shown through Streamlit markdown keeps its characters instead of turning into formatting."""

from app.markdown_text import plain


def test_markdown_punctuation_is_escaped_and_letters_are_kept():
    assert plain("a*b_c") == r"a\*b\_c"
    assert plain("[x](javascript:y)") == r"\[x\]\(javascript\:y\)"
    assert plain(":red[z]") == r"\:red\[z\]"
    assert plain("Ménière 42") == "Ménière 42"

"""The tinted-note rendering and the section overview, on hand-made offsets and weights."""

import html
import re

import numpy as np

from app.services import evidence_view


def _visible_text(rendered: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", rendered))


def test_note_html_escapes_markup_in_the_note():
    text = 'Pt has <script>alert("x")</script> & <b>COPD</b>'
    offsets = np.array([[7, 15], [40, 44]])
    rendered = evidence_view.tinted_note_html(text, offsets, np.array([1.0, 0.6]))
    assert "<script>" not in rendered and "<b>COPD" not in rendered
    assert "&lt;script&gt;" in rendered and "&amp;" in rendered
    assert _visible_text(rendered) == text


def test_tint_grows_with_attention_and_faint_tokens_stay_plain():
    text = "chronic obstructive pulmonary disease"
    offsets = np.array([[0, 7], [8, 19], [20, 29], [30, 37]])
    rendered = evidence_view.tinted_note_html(text, offsets, np.array([0.01, 1.0, 0.5, 0.0]))
    marks = re.findall(r"rgba\(255,140,0,([0-9.]+)\)[^>]*>([^<]+)</mark>", rendered)
    assert marks == [(str(evidence_view.MAX_OPACITY), "obstructive"), ("0.42", "pulmonary")]
    assert _visible_text(rendered) == text


def test_coder_marked_spans_are_tinted_in_the_coder_colour():
    text = "history of kidney disease stage 3"
    rendered = evidence_view.marked_spans_html(text, [[11, 25]])
    assert "rgba(30,136,229" in rendered and ">kidney disease</mark>" in rendered
    assert _visible_text(rendered) == text


def test_find_phrase_finds_every_occurrence_ignoring_case():
    text = "COPD exacerbation. History of copd."
    assert evidence_view.find_phrase(text, " copd ") == [(0, 4), (30, 34)]
    assert evidence_view.find_phrase(text, "asthma") == []
    assert evidence_view.find_phrase(text, "   ") == []


def test_titled_sections_are_found_and_cover_the_note():
    text = "Admission note\nHISTORY OF PRESENT ILLNESS: cough\nAssessment: COPD\nPlan: inhalers"
    sections = evidence_view.note_sections(text)
    assert [s.title for s in sections] == ["(start)", "HISTORY OF PRESENT ILLNESS", "Assessment", "Plan"]
    assert sections[0].start == 0 and sections[-1].end == len(text)
    assert all(a.end == b.start for a, b in zip(sections, sections[1:], strict=False))


def test_untitled_note_is_cut_into_contiguous_word_windows():
    text = " ".join(f"w{i}" for i in range(400))
    sections = evidence_view.note_sections(text)
    assert len(sections) == 3
    assert sections[0].start == 0 and sections[-1].end == len(text)
    assert all(a.end == b.start for a, b in zip(sections, sections[1:], strict=False))
    assert sections[1].title == "words 135-268"


def test_section_matrix_keeps_each_codes_strongest_token_per_section():
    sections = [evidence_view.Section("a", 0, 10), evidence_view.Section("b", 10, 20)]
    offsets = np.array([[0, 3], [4, 8], [12, 15]])
    weights = np.array([[0.2, 0.9, 0.1], [0.0, 0.0, 1.0]])  # (codes, tokens)
    matrix = evidence_view.section_matrix(sections, offsets, weights)
    np.testing.assert_allclose(matrix, [[0.9, 0.1], [0.0, 1.0]])

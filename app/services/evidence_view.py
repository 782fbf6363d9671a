"""Pure rendering of a code's evidence: the note as HTML with words tinted by attention, and the
codes × note-sections matrix behind the overview heatmap.

Every piece of note text goes through `html.escape`, so a note holding `<script>` shows as text.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MODEL_TINT = (255, 140, 0)  # orange: where the model looked
CODER_TINT = (30, 136, 229)  # blue: words a coder marked for an added code
# Tokens below this weight are left plain: it keeps the HTML small and the page quick to redraw.
MIN_VISIBLE_WEIGHT = 0.04
MAX_OPACITY = 0.85
NOTE_STYLE = (
    "white-space: pre-wrap; font-family: ui-sans-serif, system-ui, sans-serif; font-size: 0.95rem; "
    "line-height: 1.6; max-height: 32rem; overflow-y: auto; padding: 0.75rem; "
    "border: 1px solid rgba(128,128,128,0.35); border-radius: 0.5rem"
)
# A line that starts with a short title and a colon ("HISTORY OF PRESENT ILLNESS:", "Plan:").
_SECTION_HEADER = re.compile(r"^[ \t]*([A-Za-z][A-Za-z0-9 /&()',-]{1,60}):", re.MULTILINE)
WORDS_PER_WINDOW = 150
MAX_WINDOWS = 24


def tinted_note_html(
    text: str,
    offsets: np.ndarray,
    weights: np.ndarray,
    tint: tuple[int, int, int] = MODEL_TINT,
    note_id: str = "evidence-note",
) -> str:
    """The note as one escaped HTML block, each token's background as strong as its weight.

    offsets: (tokens, 2) character spans into `text`, in text order; weights: (tokens,) in [0, 1].
    """
    red, green, blue = tint
    pieces = [f'<div id="{html.escape(note_id)}" class="evidence-note" style="{NOTE_STYLE}">']
    position = 0
    for (start, end), weight in zip(np.asarray(offsets).tolist(), np.asarray(weights).tolist(), strict=True):
        if weight < MIN_VISIBLE_WEIGHT or start < position or end <= start:
            continue
        pieces.append(html.escape(text[position:start]))
        opacity = round(min(weight, 1.0) * MAX_OPACITY, 2)
        pieces.append(
            f'<mark style="background: rgba({red},{green},{blue},{opacity}); color: inherit; '
            f'padding: 0; border-radius: 2px" title="{weight:.2f}">{html.escape(text[start:end])}</mark>'
        )
        position = end
    pieces.append(html.escape(text[position:]))
    pieces.append("</div>")
    return "".join(pieces)


def marked_spans_html(text: str, spans: Sequence[Sequence[int]], note_id: str = "evidence-note") -> str:
    """The note with the coder's own evidence spans for an added code highlighted."""
    ordered = sorted((int(start), int(end)) for start, end in spans)
    offsets = np.array(ordered, dtype=np.int64).reshape(-1, 2)
    return tinted_note_html(text, offsets, np.ones(len(ordered)), tint=CODER_TINT, note_id=note_id)


def find_phrase(text: str, phrase: str) -> list[tuple[int, int]]:
    """Every case-insensitive occurrence of `phrase` in the note, as character spans (none for blank)."""
    phrase = phrase.strip()
    if not phrase:
        return []
    return [(m.start(), m.end()) for m in re.finditer(re.escape(phrase), text, flags=re.IGNORECASE)]


@dataclass(frozen=True)
class Section:
    title: str
    start: int
    end: int


def note_sections(text: str) -> list[Section]:
    """The note's titled sections when it has at least two, else windows of about 150 words."""
    headers = list(_SECTION_HEADER.finditer(text))
    if len(headers) >= 2:
        sections = []
        if headers[0].start() > 0 and text[: headers[0].start()].strip():
            sections.append(Section("(start)", 0, headers[0].start()))
        for header, following in zip(headers, [*headers[1:], None], strict=True):
            end = following.start() if following is not None else len(text)
            sections.append(Section(header.group(1).strip(), header.start(), end))
        return sections
    return _word_windows(text)


def _word_windows(text: str) -> list[Section]:
    word_starts = [m.start() for m in re.finditer(r"\S+", text)]
    if not word_starts:
        return [Section("note", 0, len(text))]
    n_windows = min(MAX_WINDOWS, math.ceil(len(word_starts) / WORDS_PER_WINDOW))
    per_window = math.ceil(len(word_starts) / n_windows)
    sections = []
    for index in range(n_windows):
        first_word = index * per_window
        last_word = min(len(word_starts), first_word + per_window)
        start = 0 if index == 0 else word_starts[first_word]
        end = len(text) if last_word == len(word_starts) else word_starts[last_word]
        sections.append(Section(f"words {first_word + 1}-{last_word}", start, end))
    return sections


def section_matrix(sections: Sequence[Section], offsets: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(codes, sections): each code's strongest attention on a token that starts inside the section.

    offsets: (tokens, 2); weights: (codes, tokens).
    """
    weights = np.asarray(weights, dtype=np.float32).reshape(-1, len(offsets))
    matrix = np.zeros((weights.shape[0], len(sections)), dtype=np.float32)
    token_starts = np.asarray(offsets).reshape(-1, 2)[:, 0]
    for column, section in enumerate(sections):
        inside = (token_starts >= section.start) & (token_starts < section.end)
        if inside.any():
            matrix[:, column] = weights[:, inside].max(axis=1)
    return matrix

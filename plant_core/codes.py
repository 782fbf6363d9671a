"""The ICD-10-CM code system: normalise and validate codes, look up descriptions and the hierarchy, search.

Everything reads the tabular list shipped with `simple-icd-10-cm` (April 2026 release in 1.5.0). A *code*
is a category ('I10'), subcategory ('E11.2') or billable leaf ('E11.22', 'S72.001A'); chapters and blocks
('E08-E13') group codes and are not codes themselves, though the look-ups accept a block where it helps.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from bisect import bisect_left
from dataclasses import dataclass

import numpy as np
import simple_icd_10_cm as icd


class InvalidCodeError(ValueError):
    """A string that cannot be an ICD-10-CM code (wrong shape); the message names it."""


class UnknownCodeError(ValueError):
    """A well-formed code that is not in the ICD-10-CM tabular list; the message names it."""


# Three characters (letter first; 'QA0' shows the second may be a letter), then up to four after the dot.
_CODE_SHAPE = re.compile(r"([A-Z][0-9A-Z]{2})(?:\.?([0-9A-Z]{1,4}))?", re.ASCII | re.IGNORECASE)
# What a user may have typed so far of a code: 'e', 'e1', 'E11.', 'e119'.
_CODE_PREFIX_SHAPE = re.compile(
    r"[A-Z](?:[0-9A-Z]{0,2}|[0-9A-Z]{2}\.?[0-9A-Z]{0,4})", re.ASCII | re.IGNORECASE
)
_WORD = re.compile(r"[a-z0-9]+")

# Search reads at most this much of a query: a type-ahead box never needs more, and it bounds the work.
_MAX_QUERY_CHARS = 200
_MAX_QUERY_WORDS = 12


def normalize(code: str) -> str:
    """The canonical spelling of a code: 'e119', ' E11.9 ' and 'E119' all give 'E11.9'.

    Raises InvalidCodeError if the string cannot be a code and UnknownCodeError if it is shaped like one
    but is not in ICD-10-CM.
    """
    if not isinstance(code, str):
        raise InvalidCodeError(f"An ICD-10-CM code must be text, got {type(code).__name__}: {code!r}")
    shape = _CODE_SHAPE.fullmatch(code.strip())
    if shape is None:
        raise InvalidCodeError(
            f"{code!r} is not an ICD-10-CM code: expected a letter, two more characters and optionally "
            "a dot and up to four characters, e.g. 'I10' or 'E11.9'"
        )
    category, rest = shape.group(1).upper(), (shape.group(2) or "").upper()
    canonical = f"{category}.{rest}" if rest else category
    if not icd.is_valid_item(canonical):
        raise UnknownCodeError(
            f"{code!r} has the shape of a code but {canonical} is not in the ICD-10-CM tabular list; "
            "check it for a typo or find the code with search()"
        )
    return canonical


def is_valid(code: str) -> bool:
    """Whether `code`, in any spelling `normalize` accepts, is an ICD-10-CM code at any level; never raises."""
    try:
        normalize(code)
    except ValueError:
        return False
    return True


@functools.cache
def _block_ranges() -> frozenset[str]:
    # A block holding a single category shares that category's name ('B10'); only ranges are told apart.
    return frozenset(name for name in icd.get_all_codes(with_dots=True) if "-" in name)


def _tabular_name(code: str) -> str:
    """The package's name for a code (any spelling `normalize` accepts) or a block range such as 'E08-E13'."""
    if isinstance(code, str) and (block := code.strip().upper()) in _block_ranges():
        return block
    return normalize(code)


def is_billable(code: str) -> bool:
    """Whether a code can be reported as it is: the leaves of the tabular list; a block never is."""
    return icd.is_leaf(_tabular_name(code))


def description(code: str) -> str:
    """The code's (or block's) title in the tabular list, e.g. 'Type 2 diabetes mellitus without complications'."""
    return icd.get_description(_tabular_name(code))


def inclusion_terms(code: str) -> list[str]:
    """The synonyms the tabular list files under the code ('Congestive heart failure NOS' for I50.9)."""
    return icd.get_inclusion_term(_tabular_name(code))


def parents(code: str) -> list[str]:
    """The code's ancestors, nearest first, up to and including its block(s) but not the chapter.

    'E11.22' gives ['E11.2', 'E11', 'E08-E13']; use `chapter` for the chapter. A block that holds a single
    category shares its name ('B10'), so it is not listed a second time.
    """
    name = _tabular_name(code)
    without_chapter = icd.get_ancestors(name)[:-1]
    return list(dict.fromkeys(ancestor for ancestor in without_chapter if ancestor != name))


def chapter(code: str) -> tuple[str, str]:
    """The chapter holding the code: (number, title), e.g. ('4', 'Endocrine, ... diseases (E00-E89)')."""
    number = icd.get_ancestors(_tabular_name(code))[-1]
    return number, icd.get_description(number)


@functools.cache
def _all_codes() -> tuple[str, ...]:
    """Every code (category and below) once, in tabular order; chapters and block ranges left out."""
    names = icd.get_all_codes(with_dots=True)
    return tuple(dict.fromkeys(name for name in names if _CODE_SHAPE.fullmatch(name)))


@functools.cache
def _billable_codes() -> tuple[str, ...]:
    return tuple(sorted(code for code in _all_codes() if icd.is_leaf(code)))


def billable_codes() -> list[str]:
    """All billable (leaf) codes, sorted; about 74,700 in the April 2026 list."""
    return list(_billable_codes())


@dataclass(frozen=True)
class CodeMatch:
    """One search result. `score` is above 1 for a code match (2.0 for the exact code) and in (0, 1] for a
    match on words; results come sorted by score, highest first."""

    code: str
    description: str
    score: float
    billable: bool


def _words(text: str) -> list[str]:
    """Lower-case ASCII words: accents dropped ('Ménière' -> 'meniere'), apostrophes joined ('alzheimers')."""
    # A curly apostrophe needs no joining: it is not ASCII, so it is dropped like the accents.
    decomposed = unicodedata.normalize("NFKD", text.replace("'", ""))
    return _WORD.findall(decomposed.encode("ascii", "ignore").decode().lower())


@dataclass(frozen=True)
class _Postings:
    """Which codes contain each vocabulary word, laid out so a run of words is one contiguous slice."""

    flat: np.ndarray  # (postings,) int32 code positions, grouped by word in vocabulary order
    starts: np.ndarray  # (words + 1,) int64: word i's codes are flat[starts[i]:starts[i + 1]]

    @classmethod
    def build(cls, vocabulary: list[str], codes_by_word: dict[str, list[int]]) -> _Postings:
        lists = [codes_by_word.get(word, []) for word in vocabulary]
        starts = np.zeros(len(vocabulary) + 1, dtype=np.int64)
        np.cumsum([len(codes) for codes in lists], out=starts[1:])
        flat = np.fromiter((position for codes in lists for position in codes), np.int32, count=starts[-1])
        return cls(flat, starts)

    def mark(self, hits: np.ndarray, first_word: int, end_word: int) -> None:
        """Set `hits` at every code holding a word in vocabulary[first_word:end_word]."""
        hits[self.flat[self.starts[first_word] : self.starts[end_word]]] = True


@dataclass(frozen=True)
class _SearchIndex:
    codes: tuple[str, ...]  # tabular order; an array position below is a position in this tuple
    descriptions: tuple[str, ...]
    billable: np.ndarray  # (codes,) bool
    description_length: np.ndarray  # (codes,) int64 characters
    position: dict[str, int]  # dotless code -> position
    dotless_by_length: dict[int, list[str]]  # sorted dotless codes of each length, for prefix bisection
    vocabulary: list[str]  # sorted distinct words of all descriptions and inclusion terms
    in_description: _Postings
    in_inclusion_terms: _Postings


@functools.cache
def _search_index() -> _SearchIndex:
    """Built on first search (about a second); kept for the life of the process."""
    codes = _all_codes()
    descriptions = tuple(icd.get_description(code) for code in codes)
    description_words: dict[str, list[int]] = {}
    inclusion_words: dict[str, list[int]] = {}
    for position, code in enumerate(codes):
        for word in set(_words(descriptions[position])):
            description_words.setdefault(word, []).append(position)
        # A category's "includes" note ('high blood pressure' for I10) is searched like an inclusion term.
        synonyms = " ".join(icd.get_inclusion_term(code) + icd.get_includes(code))
        for word in set(_words(synonyms)):
            inclusion_words.setdefault(word, []).append(position)
    vocabulary = sorted(description_words.keys() | inclusion_words.keys())

    dotless = [code.replace(".", "") for code in codes]
    dotless_by_length: dict[int, list[str]] = {}
    for code in sorted(dotless):
        dotless_by_length.setdefault(len(code), []).append(code)
    billable = set(_billable_codes())
    return _SearchIndex(
        codes=codes,
        descriptions=descriptions,
        billable=np.array([code in billable for code in codes]),
        description_length=np.array([len(text) for text in descriptions], dtype=np.int64),
        position={code: position for position, code in enumerate(dotless)},
        dotless_by_length=dotless_by_length,
        vocabulary=vocabulary,
        in_description=_Postings.build(vocabulary, description_words),
        in_inclusion_terms=_Postings.build(vocabulary, inclusion_words),
    )


def search(query: str, limit: int = 20, billable_only: bool = False) -> list[CodeMatch]:
    """Codes for a type-ahead box, best first: by code prefix ('e11', 'E11.', 'E119') or by words.

    A query shaped like a code lists the exact code, then longer codes under the prefix, shorter first.
    Otherwise, or when no code starts with it ('b12'), its words match as prefixes of words in the
    description or inclusion terms ('diab nephro'). Codes matching more query words rank higher, then
    those matching more in the description, more whole words, a shorter description, billable before
    not, tabular order. A blank query gives []; only the first 200 characters and 12 words are read.
    """
    if limit < 1:
        raise ValueError(f"search limit must be at least 1, got {limit}")
    query = query[:_MAX_QUERY_CHARS].strip()
    if not query:
        return []
    index = _search_index()
    return _code_prefix_matches(index, query, limit, billable_only) or _word_matches(
        index, query, limit, billable_only
    )


def _code_prefix_matches(index: _SearchIndex, query: str, limit: int, billable_only: bool) -> list[CodeMatch]:
    if not _CODE_PREFIX_SHAPE.fullmatch(query):
        return []
    prefix = query.upper().replace(".", "")
    matches: list[CodeMatch] = []
    for length in sorted(length for length in index.dotless_by_length if length >= len(prefix)):
        same_length = index.dotless_by_length[length]
        for dotless in same_length[bisect_left(same_length, prefix) :]:
            if not dotless.startswith(prefix):
                break
            position = index.position[dotless]
            if billable_only and not index.billable[position]:
                continue
            matches.append(
                CodeMatch(
                    code=index.codes[position],
                    description=index.descriptions[position],
                    score=1.0 + len(prefix) / length,
                    billable=bool(index.billable[position]),
                )
            )
            if len(matches) == limit:
                return matches
    return matches


def _word_matches(index: _SearchIndex, query: str, limit: int, billable_only: bool) -> list[CodeMatch]:
    words = list(dict.fromkeys(_words(query)))[:_MAX_QUERY_WORDS]
    if not words:
        return []
    n_codes = len(index.codes)
    matched = np.zeros(n_codes, dtype=np.int64)  # query words found in description or inclusion terms
    matched_in_description = np.zeros(n_codes, dtype=np.int64)
    matched_whole = np.zeros(n_codes, dtype=np.int64)  # query words that are a whole word of the text
    for word in words:
        # Every vocabulary word starting with `word` sits in one sorted run.
        first = bisect_left(index.vocabulary, word)
        end = bisect_left(index.vocabulary, word + "\uffff", first)
        in_description = np.zeros(n_codes, dtype=bool)
        in_inclusion_terms = np.zeros(n_codes, dtype=bool)
        index.in_description.mark(in_description, first, end)
        index.in_inclusion_terms.mark(in_inclusion_terms, first, end)
        matched += in_description | in_inclusion_terms
        matched_in_description += in_description
        if first < end and index.vocabulary[first] == word:
            whole = np.zeros(n_codes, dtype=bool)
            index.in_description.mark(whole, first, first + 1)
            index.in_inclusion_terms.mark(whole, first, first + 1)
            matched_whole += whole

    candidates = matched > 0
    if billable_only:
        candidates &= index.billable
    positions = np.flatnonzero(candidates)
    if positions.size == 0:
        return []
    # Each count is at most len(words), so base len(words) + 1 keeps the three in strict priority order.
    base = len(words) + 1
    points = (matched * base + matched_in_description) * base + matched_whole
    best_points = (len(words) * base + len(words)) * base + len(words)
    # One integer key per candidate orders by points, description length, billable, then tabular order.
    longest = int(index.description_length.max()) + 1
    key = (best_points - points[positions]) * longest + index.description_length[positions]
    key = (key * 2 + ~index.billable[positions]) * n_codes + positions
    if positions.size > limit:
        keep = np.argpartition(key, limit - 1)[:limit]
        positions, key = positions[keep], key[keep]
    ordered = positions[np.argsort(key)]
    return [
        CodeMatch(
            code=index.codes[position],
            description=index.descriptions[position],
            score=float(points[position] / best_points),
            billable=bool(index.billable[position]),
        )
        for position in ordered
    ]

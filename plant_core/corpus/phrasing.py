"""The small template language the synthetic corpus is written in, and its enumeration.

    "{aoc} [systolic|HFrEF] {hf}[ exacerbation|]"  ->  "acute on chronic HFrEF CHF exacerbation", ...

`[a|b|c]` is a choice (alternatives may be empty, choices nest), `{name}` a macro (a named list of
templates, itself a choice), `{12-30}` / `{1.5-3.5}` a number drawn when the text is written (so that
"EF 25%" and "EF 30%" are one wording). Everything else is literal. A `Phrasebook` holds the macros and
parses each template once; `variants` lists the distinct wordings a template can produce (numbers left
as slots) and `render` writes one with its numbers drawn. Enumerating wordings, not only sampling text,
is what lets the corpus give each split its own disjoint pool of wordings.
"""

from __future__ import annotations

import itertools
import random
import re
from dataclasses import dataclass
from functools import lru_cache


class TemplateError(ValueError):
    """A template that does not parse, or names a macro that does not exist; says which and where."""


@dataclass(frozen=True)
class Text:
    value: str


@dataclass(frozen=True)
class Number:
    slot: str  # "{12-30}", kept in wordings and filled by `render`


@dataclass(frozen=True)
class Choice:
    options: tuple[Seq, ...]
    size: int  # wordings spelled out, so that a random pick can be uniform over them


@dataclass(frozen=True)
class Seq:
    parts: tuple[Text | Number | Choice, ...]
    size: int


_NUMBER = re.compile(r"(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)")
_MACRO_NAME = re.compile(r"[a-z][a-z0-9_]*")


class Phrasebook:
    """Macros (name -> templates) and a cache of parsed templates."""

    def __init__(self, macros: dict[str, list[str]] | None = None):
        self.macros = {name: tuple(templates) for name, templates in (macros or {}).items()}
        self._trees: dict[str, Seq] = {}
        self._macro_trees: dict[str, Choice] = {}

    def tree(self, template: str) -> Seq:
        tree = self._trees.get(template)
        if tree is None:
            tree = self._trees[template] = _Parser(template, self, ()).sequence(top=True)
        return tree

    def macro(self, name: str, active: tuple[str, ...]) -> Choice:
        tree = self._macro_trees.get(name)
        if tree is None:
            options = tuple(_Parser(t, self, active + (name,)).sequence(top=True) for t in self.macros[name])
            tree = self._macro_trees[name] = Choice(options, sum(o.size for o in options))
        return tree

    def check(self, template: str) -> None:
        """Raises `TemplateError` if the template does not parse or names an unknown macro."""
        self.tree(template)

    def variants(self, template: str, limit: int, rng: random.Random) -> list[str]:
        """Up to `limit` distinct wordings (tidied, number slots kept); all of them when they fit.

        Past the limit the wordings are a uniform random sample drawn from `rng`."""
        tree = self.tree(template)
        if tree.size <= 4 * limit:
            unique = list(dict.fromkeys(tidy(text) for text in _all(tree)))
            return unique if len(unique) <= limit else rng.sample(unique, limit)
        found: dict[str, None] = {}
        for _ in range(20 * limit):
            found[tidy(_one(tree, rng))] = None
            if len(found) >= limit:
                break
        return list(found)

    def expand(self, template: str, rng: random.Random) -> str:
        """One random text of the template, its numbers drawn (for text not pooled by split)."""
        return render(tidy(_one(self.tree(template), rng)), rng)


class _Parser:
    def __init__(self, text: str, book: Phrasebook, active: tuple[str, ...]):
        self.text, self.book, self.active, self.pos = text, book, active, 0

    def fail(self, message: str) -> TemplateError:
        return TemplateError(f"{message} at character {self.pos} of template {self.text!r}")

    def sequence(self, top: bool = False) -> Seq:
        parts: list[Text | Number | Choice] = []
        literal: list[str] = []

        def flush() -> None:
            if literal:
                parts.append(Text("".join(literal)))
                literal.clear()

        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char in "|]":
                if top:
                    raise self.fail(f"unexpected {char!r}")
                break
            if char == "[":
                flush()
                self.pos += 1
                parts.append(self.choice())
            elif char == "{":
                flush()
                parts.append(self.slot())
            elif char == "}":
                raise self.fail("unmatched '}'")
            else:
                literal.append(char)
                self.pos += 1
        flush()
        size = 1
        for part in parts:
            if isinstance(part, Choice):
                size *= part.size
        return Seq(tuple(parts), size)

    def choice(self) -> Choice:
        options = [self.sequence()]
        while self.pos < len(self.text) and self.text[self.pos] == "|":
            self.pos += 1
            options.append(self.sequence())
        if self.pos >= len(self.text) or self.text[self.pos] != "]":
            raise self.fail("unclosed '['")
        self.pos += 1
        return Choice(tuple(options), sum(o.size for o in options))

    def slot(self) -> Number | Choice:
        end = self.text.find("}", self.pos)
        if end < 0:
            raise self.fail("unclosed '{'")
        name = self.text[self.pos + 1 : end]
        self.pos = end + 1
        number = _NUMBER.fullmatch(name)
        if number:
            low, high = number.groups()
            if float(low) > float(high):
                raise self.fail(f"number range {name!r} runs backwards")
            return Number("{" + name + "}")
        if not _MACRO_NAME.fullmatch(name):
            raise self.fail(f"{{{name}}} is neither a macro name (lower-case, digits, _) nor a number range")
        if name not in self.book.macros:
            raise self.fail(f"unknown macro {{{name}}}")
        if name in self.active:
            raise self.fail(f"macro {{{name}}} refers to itself through {' -> '.join(self.active)}")
        return self.book.macro(name, self.active)


def _all(node: Seq | Choice) -> list[str]:
    if isinstance(node, Choice):
        return [text for option in node.options for text in _all(option)]
    pieces = []
    for part in node.parts:
        if isinstance(part, Text):
            pieces.append([part.value])
        elif isinstance(part, Number):
            pieces.append([part.slot])
        else:
            pieces.append(_all(part))
    return ["".join(combo) for combo in itertools.product(*pieces)]


def _one(node: Seq | Choice, rng: random.Random) -> str:
    if isinstance(node, Choice):
        return _one(rng.choices(node.options, [o.size for o in node.options])[0], rng)
    out = []
    for part in node.parts:
        if isinstance(part, Text):
            out.append(part.value)
        elif isinstance(part, Number):
            out.append(part.slot)
        else:
            out.append(_one(part, rng))
    return "".join(out)


_SPACES = re.compile(r"\s+")
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([,;:.)])")
_SPACE_AFTER_PAREN = re.compile(r"\(\s+")
_DOUBLED_PUNCTUATION = re.compile(r"([,;])\s*([,;])")


def tidy(text: str) -> str:
    """Joins the pieces as a person would type them: single spaces, no space before a comma."""
    text = _SPACES.sub(" ", text).strip()
    text = _SPACE_BEFORE_PUNCTUATION.sub(r"\1", text)
    text = _SPACE_AFTER_PAREN.sub("(", text)
    text = _DOUBLED_PUNCTUATION.sub(r"\1", text)
    return text.strip(" ,;")


_SLOT = re.compile(r"\{(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)\}")


def render(wording: str, rng: random.Random) -> str:
    """The wording with each number slot replaced by a number drawn from its range."""

    def draw(match: re.Match) -> str:
        low, high = match.groups()
        decimals = max(len(p.split(".")[1]) if "." in p else 0 for p in (low, high))
        if decimals == 0:
            return str(rng.randint(int(low), int(high)))
        return f"{rng.uniform(float(low), float(high)):.{decimals}f}"

    return _SLOT.sub(draw, wording)


_DIGITS = re.compile(r"\d+(?:[.,]\d+)*")


@lru_cache(maxsize=65536)
def wording_key(text: str) -> str:
    """What makes two mentions the same wording: case, spacing and numbers ignored."""
    return _SPACES.sub(" ", _DIGITS.sub("#", _SLOT.sub("#", text.lower()))).strip()

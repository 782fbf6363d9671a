"""How each ICD-10-CM code is written in a note: the hand-written wording files in `data/wording/`.

A code's entry (see `data/wording/README.md`) lists its *core* wordings (the two or three forms every
clinician uses, shared by all splits), its compositional *say* templates (enumerated, then divided
between the splits so that test notes use wordings no training note has for that code), its *implied*
evidence (labs with values, findings, devices, procedures) and medication lines, and how it behaves in
context (negatable, family history, the code of a past episode). Codes without an entry are worded
from their ICD-10-CM title by `paraphrase`.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from plant_core import codes as icd
from plant_core.corpus.phrasing import Phrasebook, TemplateError

WORDING_DIR = "wording"
MACROS_FILE = "macros.json"
SECTIONS = ("hpi", "pmh", "social", "allergies", "psh", "assessment")


class WordingDataError(ValueError):
    """A wording file that cannot be used; names the file, the code and the problem."""


@dataclass(frozen=True)
class CodeWording:
    code: str
    core: tuple[str, ...]  # templates shared by every split
    say: tuple[str, ...]  # compositional templates; their wordings are pooled by split
    implied: tuple[str, ...] = ()  # labs, findings, imaging, devices, procedures that evidence the code
    meds: tuple[str, ...] = ()  # medication-list lines that evidence the code
    implied_only: float = 0.0  # share of the code's notes in which only implied evidence is written
    section: str = "pmh"
    negatable: bool = False  # may be denied, ruled out or raised as a possibility
    family: bool = False  # may appear in a family history
    history: str | None = None  # the code of a past, resolved episode (Z86.711 for a PE), if any
    requires: tuple[str, ...] = ()  # code prefixes that are always coded with it (I13.0: I50, N18)
    sex: str | None = None
    source: str = "wording file"  # or "paraphrase" for codes worded from their title

    @property
    def templates(self) -> tuple[str, ...]:
        return self.core + self.say


@dataclass
class WordingBook:
    """Every code's wording and the macros their templates use."""

    phrases: Phrasebook
    entries: dict[str, CodeWording] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # code -> file it came from


def _as_tuple(value, where: str, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise WordingDataError(f"{where}: '{name}' must be a list of non-empty strings")
    return tuple(v.strip() for v in value)


def _entry(code: str, raw: dict, where: str) -> CodeWording:
    known = {"core", "say", "implied", "meds", "implied_only", "section", "negatable", "family", "history",
             "requires", "sex", "note"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise WordingDataError(f"{where}: unknown field(s) {unknown}; allowed: {sorted(known)}")
    section = raw.get("section", "pmh")
    if section not in SECTIONS:
        raise WordingDataError(f"{where}: section {section!r} is not one of {list(SECTIONS)}")
    implied_only = float(raw.get("implied_only", 0.0))
    entry = CodeWording(
        code=code,
        core=_as_tuple(raw.get("core"), where, "core"),
        say=_as_tuple(raw.get("say"), where, "say"),
        implied=_as_tuple(raw.get("implied"), where, "implied"),
        meds=_as_tuple(raw.get("meds"), where, "meds"),
        implied_only=implied_only,
        section=section,
        negatable=bool(raw.get("negatable", False)),
        family=bool(raw.get("family", False)),
        history=raw.get("history"),
        requires=_as_tuple(raw.get("requires"), where, "requires"),
        sex=raw.get("sex"),
    )
    if not entry.core:
        raise WordingDataError(f"{where}: needs at least one 'core' wording")
    if not 0.0 <= implied_only <= 1.0:
        raise WordingDataError(f"{where}: implied_only must lie in [0, 1], got {implied_only}")
    if implied_only > 0 and not (entry.implied or entry.meds):
        raise WordingDataError(f"{where}: implied_only > 0 needs 'implied' or 'meds' evidence")
    if entry.sex not in (None, "F", "M"):
        raise WordingDataError(f"{where}: sex must be 'F' or 'M', got {entry.sex!r}")
    if entry.history is not None:
        try:
            history = icd.normalize(entry.history)
        except ValueError as e:
            raise WordingDataError(f"{where}: history code {entry.history!r}: {e}") from None
        if not icd.is_billable(history):
            raise WordingDataError(f"{where}: history code {history} is not a billable ICD-10-CM code")
    return entry


def load_wording_book(data_dir: str | Path) -> WordingBook:
    """Reads `data_dir/wording/*.json`; raises `WordingDataError` naming the file and code of a problem."""
    folder = Path(data_dir) / WORDING_DIR
    if not folder.is_dir():
        raise WordingDataError(f"{folder} is missing: the synthetic corpus needs its wording files")
    macros: dict[str, list[str]] = {}
    macro_files: dict[str, str] = {}
    raw_entries: list[tuple[str, str, dict]] = []
    for path in sorted(folder.glob("*.json")):
        try:
            content = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise WordingDataError(f"{path}: not valid UTF-8 JSON ({e})") from None
        for name, templates in content.get("macros", {}).items():
            if name in macros:
                raise WordingDataError(f"{path}: macro {name!r} is already defined in {macro_files[name]}")
            macros[name] = list(_as_tuple(templates, f"{path}: macro {name!r}", "templates"))
            macro_files[name] = path.name
        for raw_code, raw in content.get("codes", {}).items():
            raw_entries.append((path.name, raw_code, raw))
    book = WordingBook(Phrasebook(macros))
    for name in macros:  # every macro must parse, used or not
        for template in macros[name]:
            try:
                book.phrases.check(template)
            except TemplateError as e:
                raise WordingDataError(f"{macro_files[name]}: macro {name!r}: {e}") from None
    for file_name, raw_code, raw in raw_entries:
        where = f"{file_name}: {raw_code}"
        try:
            code = icd.normalize(raw_code)
        except ValueError as e:
            raise WordingDataError(f"{where}: {e}") from None
        if not icd.is_billable(code):
            raise WordingDataError(f"{where}: {code} is not a billable ICD-10-CM code")
        if code in book.entries:
            raise WordingDataError(f"{where}: {code} already has an entry in {book.files[code]}")
        if not isinstance(raw, dict):
            raise WordingDataError(f"{where}: an entry must be a JSON object")
        entry = _entry(code, raw, where)
        for template in entry.templates + entry.implied + entry.meds:
            try:
                book.phrases.check(template)
            except TemplateError as e:
                raise WordingDataError(f"{where}: {e}") from None
        book.entries[code] = entry
        book.files[code] = file_name
    return book


# --- wordings divided between the splits -------------------------------------------------------------

SPLIT_SHARES = {"train": 0.6, "dev": 0.2, "test": 0.2}
MAX_WORDINGS = 400  # distinct wordings enumerated per code and kind of evidence


@dataclass(frozen=True)
class SplitWordings:
    """One code's wordings for one split: the shared core and the split's own pool."""

    core: tuple[str, ...]
    pool: tuple[str, ...]


def divide(wordings: list[str], core: set[str], key: str, seed: int) -> dict[str, tuple[str, ...]]:
    """Splits the non-core wordings between train/dev/test by a stable draw of (seed, key, wording)."""
    from plant_core.corpus.phrasing import wording_key

    pools: dict[str, list[str]] = {split: [] for split in SPLIT_SHARES}
    seen: set[str] = set(core)
    for wording in wordings:
        k = wording_key(wording)
        if k in seen:
            continue
        seen.add(k)
        draw = random.Random(f"{seed}/{key}/{k}").random()
        cumulative = 0.0
        for split, share in SPLIT_SHARES.items():
            cumulative += share
            if draw < cumulative or split == "test":
                pools[split].append(wording)
                break
    return {split: tuple(words) for split, words in pools.items()}


def main(argv: list[str] | None = None) -> int:
    """`python -m plant_core.corpus.wording [CODE ...]`: checks the wording files, prints codes' wordings."""
    import argparse
    import sys

    from plant_core.corpus.phrasing import wording_key

    parser = argparse.ArgumentParser(prog="python -m plant_core.corpus.wording", description=main.__doc__)
    parser.add_argument("codes", nargs="*", help="codes whose wordings to print, per split")
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "data"))
    args = parser.parse_args(argv)
    try:
        book = load_wording_book(args.data)
    except WordingDataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{len(book.entries)} codes, {len(book.phrases.macros)} macros: all parse")
    rng = random.Random(0)
    for raw in args.codes:
        code = icd.normalize(raw)
        entry = book.entries.get(code)
        if entry is None:
            print(f"\n{code}: no entry (worded from its title)")
            continue
        print(f"\n{code} {icd.description(code)}  [{book.files[code]}]")
        for kind, templates in (("say", entry.templates), ("implied", entry.implied), ("meds", entry.meds)):
            if not templates:
                continue
            core = {wording_key(w) for t in entry.core for w in book.phrases.variants(t, MAX_WORDINGS, rng)}
            wordings = [w for t in templates for w in book.phrases.variants(t, MAX_WORDINGS, rng)]
            pools = divide(wordings, core if kind == "say" else set(), f"{code}/{kind}", 0)
            print(f"  {kind}: {len(set(map(wording_key, wordings)))} wordings"
                  + (f" (core {len(core)})" if kind == "say" else ""))
            for split, pool in pools.items():
                print(f"    {split} ({len(pool)}): " + " | ".join(pool[:8]) + (" ..." if len(pool) > 8 else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

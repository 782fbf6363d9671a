"""Deterministic generator of synthetic inpatient notes with gold ICD-10-CM codes and evidence spans.

Notes read like H&Ps and discharge summaries. Each gold code is supported by 1-3 mentions whose exact
character spans are recorded; negated, family-history and rule-out mentions of other codes are recorded
as distractors that must not be coded. The same config (seed included) always gives the same files.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import random
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from plant_core import codes as icd
from plant_core.corpus import note_templates as T
from plant_core.corpus.records import SPLITS, Dataset, Distractor, Note, write_dataset

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "data"
TOP_CODES_FILE = "top_inpatient_codes.csv"
LEXICON_FILE = "clinical_lexicon.json"
CLUSTERS_FILE = "comorbidity_clusters.json"


@dataclass
class SynthConfig:
    """Size and shape of a synthetic corpus; `SynthConfig.named('tiny'|'small'|'demo'|'bench')` gives presets."""

    n_notes: int = 4000
    n_labels: int = 1000  # size of the label space: frequent inpatient codes, then a rare tail
    n_head_labels: int | None = None  # codes drawn by their frequency in the top codes file; None: all rows
    codes_per_note_min: int = 3
    codes_per_note_max: int = 25
    codes_per_note_mean: float = 10.0
    codes_per_note_sd: float = 4.0
    words_mean: int = 350  # target words per note; sections are padded with filler up to the target
    words_sd: int = 100
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)  # train, dev, test
    tail_share: float = 0.15  # expected share of a note's codes drawn from the rare tail
    tail_zipf_exponent: float = 1.0  # tail code of rank r is drawn with weight 1 / (r + offset) ** exponent
    tail_zipf_offset: float = 50.0
    cluster_rate: float = 0.8  # share of notes built around a comorbidity cluster
    distractor_rate: float = 2.0  # mean negated / family-history / rule-out mentions per note
    discharge_summary_rate: float = 0.5  # share of notes written as discharge summaries, the rest as H&Ps
    seed: int = 13
    data_dir: str | None = None  # folder with the code tables; None means the repository's data/

    @classmethod
    def named(cls, name: str, **overrides: object) -> SynthConfig:
        """A preset ('tiny' for tests, 'demo' for the app, 'bench' MIMIC-sized), optionally adjusted."""
        if name not in _PRESETS:
            raise ValueError(f"Unknown synthetic corpus preset {name!r}; choose one of {sorted(_PRESETS)}")
        return replace(cls(**_PRESETS[name]), **overrides)

    def __post_init__(self) -> None:
        self.split_fractions = tuple(float(f) for f in self.split_fractions)
        if len(self.split_fractions) != 3 or abs(sum(self.split_fractions) - 1.0) > 1e-6:
            raise ValueError(f"split_fractions must be 3 fractions summing to 1, got {self.split_fractions}")
        if not 1 <= self.codes_per_note_min <= self.codes_per_note_max:
            raise ValueError("codes_per_note_min must be at least 1 and at most codes_per_note_max")
        if self.n_labels < self.codes_per_note_max or self.n_notes < 1:
            raise ValueError("n_labels must be at least codes_per_note_max, and n_notes at least 1")


_PRESETS: dict[str, dict] = {
    "tiny": dict(n_notes=400, n_labels=60, n_head_labels=45, codes_per_note_max=10, codes_per_note_mean=5.0,
                 codes_per_note_sd=2.0, words_mean=120, words_sd=30, distractor_rate=1.0,
                 discharge_summary_rate=0.0),
    "demo": dict(n_notes=4000, n_labels=1000, words_mean=350, words_sd=100),
    # The quick data-efficiency benchmark: shorter notes, and a heavier tail so that a third of the
    # codes have at most 5 training notes (the "rare" bucket needs enough codes to average over).
    "small": dict(n_notes=2500, n_labels=1000, words_mean=220, words_sd=60, tail_share=0.25,
                  tail_zipf_exponent=0.8),
    # MIMIC-sized: a flatter, heavier tail so that few of the 8,000 labels go unseen in training.
    "bench": dict(n_notes=50_000, n_labels=8000, words_mean=1700, words_sd=450, discharge_summary_rate=0.8,
                  tail_share=0.2, tail_zipf_exponent=0.8),
}


# --- the label space ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class _CodeProfile:
    """How one code shows up in a note: where it lives, how clinicians name it, what implies it."""

    code: str
    description: str
    home: str  # section of its main mention: hpi | pmh | social | assessment | allergies
    mentions: tuple[str, ...]
    distractor_mentions: tuple[str, ...]  # short forms that read well after "denies"; may be empty
    medications: tuple[str, ...] = ()
    findings: tuple[str, ...] = ()
    sex: str | None = None  # "M" or "F" for sex-specific conditions
    obstetric: bool = False  # only in notes about a pregnancy or delivery
    groups: tuple[int, ...] = ()  # mutually exclusive code families it belongs to


@dataclass
class LabelSpace:
    """The codes a corpus draws from, how each is worded, and the weights it is drawn with."""

    profiles: dict[str, _CodeProfile]
    head: list[str]  # frequent codes, drawn by their relative frequency
    head_cumulative: list[float]
    tail: list[str]  # rare codes in Zipf rank order
    tail_cumulative: list[float]
    clusters: list[tuple[str, ...]]
    cluster_cumulative: list[float]
    negatable: list[str]  # codes that may appear as negated or rule-out distractors
    familial: list[str]  # codes that may appear in a family history
    labels: list[str] = field(default_factory=list)  # the whole label space, head then tail


# Chapters a rare tail code is drawn from, weighted roughly like inpatient coding; obstetric, perinatal
# and external-cause chapters are left out because the notes are adult medicine admissions.
# Newborn codes are left out of the label space altogether: no note is written about a newborn.
_NEWBORN_PREFIXES = ("P", "Z38", "Z05", "Z41.2")
_OBSTETRIC_PREFIXES = ("O", "Z37", "Z3A", "Z39", "Z33", "Z34")
_TAIL_LETTER_WEIGHTS = {"A": 4, "B": 2, "C": 8, "D": 6, "E": 6, "F": 4, "G": 5, "H": 1, "I": 10, "J": 6,
                        "K": 8, "L": 3, "M": 6, "N": 5, "Q": 1, "R": 5, "S": 7, "T": 5, "Z": 4}
_TAIL_Z_PREFIXES = ("Z51", "Z59", "Z66", "Z68", "Z72", "Z74", "Z79", "Z85", "Z86", "Z87", "Z88", "Z89", "Z90",
                    "Z91", "Z92", "Z93", "Z94", "Z95", "Z96", "Z98", "Z99")
# Section of a code's main mention when the lexicon does not say: acute problems in the HPI, the rest
# in the past medical history.
_DEFAULT_HOME = {"A": "hpi", "B": "hpi", "D": "assessment", "J": "hpi", "K": "hpi", "L": "hpi", "N": "hpi",
                 "R": "hpi", "S": "hpi", "T": "hpi"}
_SOCIAL_PREFIXES = ("F10", "F11", "F12", "F13", "F14", "F15", "F17", "F19", "Z59", "Z60", "Z63", "Z72", "Z74")
_FAMILIAL_PREFIXES = ("C", "I10", "I21", "I25", "I63", "E10", "E11", "E78", "F20", "F31", "F32", "F10", "G20",
                      "G30", "G35", "J45", "K50", "K51", "N18", "D68", "Q61")
# Codes from different categories of one family never appear together (I10 with I13.0, T1DM with T2DM).
_EXCLUSIVE_GROUPS = (("I10", "I11", "I12", "I13", "I15", "I16"), ("E08", "E09", "E10", "E11", "E13"),
                     ("F17", "Z87.891"), ("N17", "N19"), ("N18", "N19"), ("J44", "J43"))
_UNCOMPLICATED_DELIVERY = "O80"
# Categories whose codes are distinct facts that may share a note (two diabetic complications, statuses).
_SHARED_CATEGORIES = ("E08", "E09", "E10", "E11", "E13", "Z79", "Z8", "Z9", "S", "T")


def _sex_of(code: str) -> str | None:
    letter, number = code[0], code[1:3]
    if not number.isdigit():
        return None
    n = int(number)
    female = {"N": (70, 98), "C": (50, 58), "D": (25, 28)}  # gynecologic, breast and female genital
    male = {"N": (40, 53), "C": (60, 63), "D": (29, 29)}  # prostate and male genital
    for sex, ranges in (("F", female), ("M", male)):
        low, high = ranges.get(letter, (1, 0))
        if low <= n <= high:
            return sex
    return None


def _is_plausible_tail_code(code: str, description: str) -> bool:
    letter = code[0]
    if letter not in _TAIL_LETTER_WEIGHTS or _sex_of(code) is not None and letter == "D":
        return False
    if letter in "ST" and not (len(code) == 8 and code.endswith("A")):
        return False  # injuries: initial encounters only
    if letter == "Z" and not code.startswith(_TAIL_Z_PREFIXES):
        return False
    lowered = description.lower()
    return not any(words in lowered for words in ("sequela", "subsequent encounter", "classified elsewhere"))


def _read_top_codes(path: Path) -> list[tuple[str, float]]:
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: the synthetic generator needs the table of frequent inpatient codes "
            f"(columns rank,code,description,relative_frequency); restore data/{TOP_CODES_FILE} from the "
            "repository or pass SynthConfig(data_dir=...)"
        )
    rows: list[tuple[str, float]] = []
    seen: set[str] = set()
    with open(path, encoding="utf-8") as f:
        for row in csv.DictReader(line for line in f if not line.startswith("#")):
            code = _billable_or_none(row.get("code", ""))
            if code is not None and code not in seen:
                seen.add(code)
                rows.append((code, max(float(row.get("relative_frequency") or 0.0), 1e-6)))
    return rows


def _billable_or_none(code: str) -> str | None:
    try:
        code = icd.normalize(code)
    except ValueError:
        return None
    return code if icd.is_billable(code) else None


def _read_json(path: Path) -> dict:
    if not path.exists():
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _home_section(code: str, description: str, entry: dict) -> str:
    section = entry.get("section")
    if description.lower().startswith("allergy status"):
        return "allergies"
    if section in ("hpi", "pmh", "social", "assessment"):
        return section
    if code.startswith(_SOCIAL_PREFIXES):
        return "social"
    lowered = description.lower()
    if "acute" in lowered and "chronic" not in lowered:
        return "hpi"
    return "pmh" if "chronic" in lowered else _DEFAULT_HOME.get(code[0], "pmh")


def _profile(code: str, entry: dict, seed: int) -> _CodeProfile:
    description = icd.description(code)
    derived = T.derived_mentions(code, description, icd.inclusion_terms(code), seed)
    mentions = [m.strip() for m in entry.get("mentions", []) if m.strip()] or derived
    if entry.get("mentions"):
        mentions = mentions + derived[:1]  # an official wording now and then, as in real notes
    short = [m for m in mentions if T.reads_as_bare_condition(m)]
    return _CodeProfile(
        code=code,
        description=description,
        home=_home_section(code, description, entry),
        mentions=tuple(dict.fromkeys(mentions)),
        distractor_mentions=tuple(dict.fromkeys(short)),
        medications=tuple(m.strip() for m in entry.get("medications", []) if m.strip()),
        findings=tuple(f.strip() for f in entry.get("findings", []) if f.strip()),
        sex="F" if code.startswith(_OBSTETRIC_PREFIXES) else _sex_of(code),
        obstetric=code.startswith(_OBSTETRIC_PREFIXES),
        groups=tuple(i for i, group in enumerate(_EXCLUSIVE_GROUPS) if code.startswith(group)),
    )


def _cumulative(weights: list[float]) -> list[float]:
    return list(itertools.accumulate(weights))


def _draw(rng: random.Random, items: list, cumulative: list[float]):
    return items[min(bisect_right(cumulative, rng.random() * cumulative[-1]), len(items) - 1)]


def _tail_codes(count: int, excluded: set[str], rng: random.Random) -> list[str]:
    """`count` plausible billable codes spread over chapters by weight, in a random (Zipf rank) order."""
    by_letter: dict[str, list[str]] = {}
    for code in icd.billable_codes():
        if code not in excluded and code[0] in _TAIL_LETTER_WEIGHTS:
            by_letter.setdefault(code[0], []).append(code)
    letters = sorted(by_letter)
    total = sum(_TAIL_LETTER_WEIGHTS[letter] for letter in letters)
    chosen: list[str] = []
    for letter in letters:
        quota = math.ceil(count * _TAIL_LETTER_WEIGHTS[letter] / total)
        pool = by_letter[letter]
        picked: list[str] = []
        for code in rng.sample(pool, len(pool)):
            if len(picked) == quota:
                break
            if _is_plausible_tail_code(code, icd.description(code)):
                picked.append(code)
        chosen.extend(picked)
    if len(chosen) < count:  # a chapter short of plausible codes leaves its share to the others
        taken = set(chosen)
        rest = [code for letter in letters for code in by_letter[letter] if code not in taken]
        for code in rng.sample(rest, len(rest)):
            if len(chosen) == count:
                break
            if _is_plausible_tail_code(code, icd.description(code)):
                chosen.append(code)
    rng.shuffle(chosen)
    return chosen[:count]


def build_label_space(config: SynthConfig) -> LabelSpace:
    """A config's label space: the data file's frequent codes, then the rare tail; depends on config only."""
    data_dir = Path(config.data_dir) if config.data_dir else DEFAULT_DATA_DIR
    rows = _read_top_codes(data_dir / TOP_CODES_FILE)
    rows = [(code, weight) for code, weight in rows if not code.startswith(_NEWBORN_PREFIXES)]
    n_head = min(len(rows) if config.n_head_labels is None else config.n_head_labels, config.n_labels)
    head = [code for code, _ in rows[:n_head]]
    # The file's rarer rows open the tail: they are more common than billable codes picked at random.
    tail = [code for code, _ in rows[n_head:]][: config.n_labels - n_head]
    rng = random.Random(f"{config.seed}/labels")
    tail += _tail_codes(config.n_labels - n_head - len(tail), set(head) | set(tail), rng)
    labels = head + tail
    lexicon_raw = _read_json(data_dir / LEXICON_FILE).get("codes", {})
    lexicon = {c: e for raw, e in sorted(lexicon_raw.items()) if (c := _billable_or_none(raw)) is not None}
    profiles = {code: _profile(code, lexicon.get(code, {}), config.seed) for code in labels}

    clusters, cluster_weights = [], []
    for cluster in _read_json(data_dir / CLUSTERS_FILE).get("clusters", []):
        members = tuple(dict.fromkeys(c for raw in cluster.get("codes", []) if (c := _billable_or_none(raw))))
        members = tuple(c for c in members if c in profiles)
        if len(members) >= 2:
            clusters.append(members)
            cluster_weights.append(float(cluster.get("weight", 1.0)))

    worded = [c for c in labels if profiles[c].distractor_mentions]
    negatable = [c for c in worded if lexicon.get(c, {}).get("negatable")]
    if not negatable:  # without a lexicon, acute problems make the most natural negations
        negatable = [c for c in worded if c in head and profiles[c].home == "hpi"]
    # Family histories name common conditions, so they come from the frequent codes.
    familial = [c for c in worded if c.startswith(_FAMILIAL_PREFIXES) and profiles[c].sex is None]
    familial = [c for c in familial if c in head] or familial
    tail_weights = [1.0 / (rank + 1 + config.tail_zipf_offset) ** config.tail_zipf_exponent
                    for rank in range(len(tail))]
    return LabelSpace(
        profiles=profiles,
        head=head,
        head_cumulative=_cumulative([weight for _, weight in rows[:n_head]]),
        tail=tail,
        tail_cumulative=_cumulative(tail_weights) if tail else [],
        clusters=clusters,
        cluster_cumulative=_cumulative(cluster_weights),
        negatable=negatable,
        familial=familial,
        labels=labels,
    )


# --- one note ----------------------------------------------------------------------------------------

Lines = list[list[T.Piece]]  # a section: its lines, each a list of pieces


def _conflicts(a: _CodeProfile, b: _CodeProfile) -> bool:
    if _UNCOMPLICATED_DELIVERY in (a.code, b.code) and a.code[0] == b.code[0]:
        return True  # O80 says the delivery had no complication coded from chapter O
    if a.code[:3] == b.code[:3]:
        shared = a.code.startswith(_SHARED_CATEGORIES)
        return not shared or "without" in a.description.lower() or "without" in b.description.lower()
    return bool(set(a.groups) & set(b.groups))


def _draw_patient(rng: random.Random, space: LabelSpace, config: SynthConfig) -> tuple[list[str], str, int]:
    """The note's gold codes (principal first), and the patient's sex and age, consistent with them."""
    target = round(rng.gauss(config.codes_per_note_mean, config.codes_per_note_sd))
    target = min(max(target, config.codes_per_note_min), config.codes_per_note_max)
    cluster: tuple[str, ...] = ()
    if space.clusters and rng.random() < config.cluster_rate:
        cluster = _draw(rng, space.clusters, space.cluster_cumulative)
    pregnant = any(space.profiles[code].obstetric for code in cluster)
    sex = "F" if pregnant else rng.choice("MF")
    age = rng.randint(18, 42) if pregnant else min(max(round(rng.gauss(64, 16)), 19), 97)
    chosen: list[_CodeProfile] = []

    def add(code: str, any_condition: bool = False) -> None:
        profile = space.profiles[code]
        # A delivery note holds its cluster and other obstetric codes (other conditions only to reach the
        # minimum count); no other note holds obstetric codes.
        fits = profile.obstetric == pregnant or code in cluster or (any_condition and not profile.obstetric)
        if (len(chosen) < target and fits and profile.sex in (None, sex)
                and not any(profile.code == other.code or _conflicts(profile, other) for other in chosen)):
            chosen.append(profile)

    for code in rng.sample(cluster, min(len(cluster), rng.randint(2, 6))):
        add(code)
    if space.tail:
        n_tail = sum(rng.random() < config.tail_share for _ in range(target - len(chosen)))
        goal = len(chosen) + n_tail
        for _ in range(4 * n_tail):
            if len(chosen) >= goal:
                break
            add(_draw(rng, space.tail, space.tail_cumulative))
    for attempt in range(60 * target):
        if len(chosen) >= target:
            break
        stuck = attempt >= 30 * target and len(chosen) < config.codes_per_note_min
        add(_draw(rng, space.head, space.head_cumulative), any_condition=stuck)
    # The principal diagnosis (listed first) is the pregnancy, else an acute problem when the note has one.
    chosen.sort(key=lambda p: (not p.obstetric, p.home != "hpi"))
    return [p.code for p in chosen], sex, age


def _slots_for(profile: _CodeProfile, rng: random.Random, discharge: bool) -> list[str]:
    """Where a code's 1-3 evidence mentions go: its home section first, then up to two other places."""
    # A problem gets a plan item; a status or history (chapter Z) only where the assessment is its home.
    extras = ["plan"] * (profile.home in ("hpi", "pmh", "social") and profile.code[0] != "Z")
    extras += ["med"] * bool(profile.medications) + ["finding"] * bool(profile.findings)
    extras += ["dx"] * discharge + ["hpi_intro"] * (profile.home == "pmh")
    home = "plan" if profile.home == "assessment" else profile.home
    n_extra = min(len(extras), rng.choices((0, 1, 2), cum_weights=(0.3, 0.75, 1.0))[0])
    return [home] + rng.sample(extras, n_extra)


def _words(lines: Lines) -> int:
    return sum(len((p if isinstance(p, str) else p[0]).split()) for line in lines for p in line)


def _poisson(rng: random.Random, mean: float) -> int:
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


@dataclass(frozen=True)
class _Mention:
    code: str
    text: str
    kind: str  # "evidence" or a distractor kind
    section: str

    def pieces(self) -> list[T.Piece]:
        return [(self.text, self.code, self.kind)]


_DISTRACTOR_SECTIONS = {"negated": ("hpi", "ros", "labs", "plan"), "rule_out": ("hpi", "plan"),
                        "family_history": ("family",)}


def _pick_distractors(rng: random.Random, space: LabelSpace, config: SynthConfig, gold: list[str],
                      used_text: list[str], with_ros: bool) -> list[_Mention]:
    """Mentions of codes that are not gold, do not clash with a gold code, and reuse none of its words."""
    count = _poisson(rng, config.distractor_rate)
    used_words = [_as_words(text) for text in used_text]
    picked: list[_Mention] = []
    kinds, weights = list(T.DISTRACTOR_KIND_WEIGHTS), list(T.DISTRACTOR_KIND_WEIGHTS.values())
    for _ in range(4 * count):
        if len(picked) == count:
            break
        kind = rng.choices(kinds, weights)[0]
        pool = space.familial if kind == "family_history" else space.negatable
        if not pool:
            continue
        profile = space.profiles[rng.choice(pool)]
        text = rng.choice(profile.distractor_mentions)
        words = _as_words(text)
        if (
            profile.code in gold
            or any(_conflicts(profile, space.profiles[g]) for g in gold)
            or any(profile.code == other.code for other in picked)
            # One phrase holding the other as whole words: 'PE' clashes with 'PE ruled out', not 'HLD'.
            or any(words in used or used in words for used in used_words)
        ):
            continue
        section = rng.choice([s for s in _DISTRACTOR_SECTIONS[kind] if with_ros or s != "ros"])
        picked.append(_Mention(profile.code, text, kind, section))
        used_words.append(words)
    return picked


_NON_WORD = re.compile(r"\W+")


def _as_words(phrase: str) -> str:
    """' pe ruled out ': lower-case words between single spaces, so that `in` matches whole words."""
    return f" {_NON_WORD.sub(' ', phrase.lower()).strip()} "


def _compose(index: int, space: LabelSpace, config: SynthConfig) -> Note:
    rng = random.Random(f"{config.seed}/note/{index}")
    gold, sex, age = _draw_patient(rng, space, config)
    target_words = max(round(rng.gauss(config.words_mean, config.words_sd)), config.words_mean // 3)
    discharge = target_words >= 400 and rng.random() < config.discharge_summary_rate
    long_form = target_words >= 250

    mentions: list[_Mention] = []
    for code in gold:
        profile = space.profiles[code]
        slots = _slots_for(profile, rng, discharge)
        if code == gold[0] and profile.home == "hpi" and len(slots) < 3 and rng.random() < 0.25:
            slots.append("cc")  # the principal diagnosis named as the chief complaint
        # Repeated mentions of one code use different wordings while there are any left.
        wordings = rng.sample(profile.mentions, len(profile.mentions))
        for i, slot in enumerate(slots):
            if slot == "med":
                text = rng.choice(profile.medications)
                slot = "med" if re.search(r"\d", text) else "order"  # "hold lisinopril": an order, not a med
            elif slot == "finding":
                text = rng.choice(profile.findings)
                slot = "exam" if T.exam_system(text) else "finding"
            else:
                text = wordings[i % len(wordings)]
            mentions.append(_Mention(code, text, "evidence", slot))
    # The chief complaint may not name a gold code without being recorded as its evidence.
    gold_wordings = {m.lower() for code in gold for m in space.profiles[code].mentions}
    chapter = "O" if space.profiles[gold[0]].obstetric else gold[0][0]
    complaints = [c for c in T.CHIEF_COMPLAINTS.get(chapter, []) if c.lower() not in gold_wordings]
    complaint = rng.choice(complaints or T.GENERIC_COMPLAINTS)
    used_text = [m.text.lower() for m in mentions] + [complaint.lower()]
    evidence_text = " ".join(used_text)
    mentions += _pick_distractors(rng, space, config, gold, used_text, long_form)

    pt = T.age_sex(rng, age, sex)
    sections = _write_sections(rng, mentions, pt, complaint, discharge, long_form, evidence_text)
    _pad_with_filler(rng, sections, target_words, discharge, evidence_text)
    return _assemble(index, rng, sections, discharge, gold)


def _write_sections(rng: random.Random, mentions: list[_Mention], pt: str, complaint: str, discharge: bool,
                    long_form: bool, evidence_text: str) -> dict[str, Lines]:
    """Every section as lines of pieces; tagged pieces are the mentions whose spans get recorded.

    `evidence_text` (the gold mentions, lower-cased) keeps normal filler from contradicting them: an exam
    line, lab value or imaging result about what a mention names is left out.
    """

    def at(section: str, kind: str = "evidence") -> Lines:
        return [m.pieces() for m in mentions if m.section == section and m.kind == kind]

    cycles: dict[int, T.TemplateCycle] = {}

    def sentences(templates: list[str], items: Lines) -> Lines:
        """One sentence per item, no template used twice in the note while others are left."""
        cycle = cycles.setdefault(id(templates), T.TemplateCycle(rng, templates))
        return [T.render(rng, cycle.next(), {"m": item}) for item in items]

    def filler(templates: list[str], long: tuple[int, int], short: tuple[int, int] = (0, 1)) -> Lines:
        """Some of `templates`, each once: a count drawn from `long` or `short`, after the note's length."""
        count = rng.randint(*(long if long_form else short))
        return [[T.expand(rng, t)] for t in rng.sample(templates, min(count, len(templates)))]

    sections: dict[str, Lines] = {"cc": at("cc") or [[complaint]]}
    if at("hpi_intro"):
        values = {"pt": pt, "cc": complaint, "pmh": T.as_list(at("hpi_intro"))}
        opening = T.render(rng, rng.choice(T.HPI_OPENINGS_WITH_PMH), values)
    elif at("pmh"):
        opening = T.render(rng, "{pt} [presents with|p/w|presenting with] {cc}.", {"pt": pt, "cc": complaint})
    else:
        opening = T.render(rng, rng.choice(T.HPI_OPENINGS_NO_PMH), {"pt": pt, "cc": complaint})
    hpi = sentences(T.HPI_MENTION, at("hpi")) + sentences(T.NEGATED_HPI, at("hpi", "negated"))
    hpi += sentences(T.RULE_OUT_HPI, at("hpi", "rule_out"))
    rng.shuffle(hpi)
    sections["hpi"] = [opening] + hpi

    pmh = [item + [T.expand(rng, rng.choice(T.PMH_ITEM_SUFFIXES))] for item in at("pmh")]
    has_commas = any("," in piece[0] for item in pmh for piece in item if isinstance(piece, tuple))
    if not pmh:
        sections["pmh"] = [[rng.choice(("None", "None.", "No significant PMH", "Denies"))]]
    elif has_commas or rng.random() < 0.5:  # items with commas of their own read badly in a comma list
        bullet = rng.choice(("- ", "* ", ""))
        sections["pmh"] = [[bullet] + item for item in pmh]
    else:
        sections["pmh"] = [T.as_list(pmh)]
    if long_form and rng.random() < 0.6:
        sections["psh"] = filler(T.PSH_FILLER, (1, 2))

    meds = at("med") + filler(T.FILLER_MEDS, (1, 5), (1, 2))
    rng.shuffle(meds)
    bullet = rng.choice(("{i}. ", "- ", ""))
    sections["meds"] = [[bullet.format(i=i + 1)] + med for i, med in enumerate(meds)]
    allergies = at("allergies")
    sections["allergies"] = [T.as_list(allergies)] if allergies else [[rng.choice(T.ALLERGY_FILLER)]]
    sections["social"] = sentences(T.SOCIAL_MENTION, at("social")) + filler(T.SOCIAL_FILLER, (1, 3))
    family = sentences(T.FAMILY_HISTORY, at("family", "family_history"))
    sections["family"] = family or filler(T.FAMILY_FILLER, (1, 1), (1, 1))
    if long_form:
        sections["ros"] = sentences(T.NEGATED_ROS, at("ros", "negated")) + filler(T.ROS_FILLER, (1, 1))

    findings_text = " ".join(m.text.lower() for m in mentions if m.section in ("finding", "exam"))
    vitals_named = re.search(r"\b(bp|hr|spo2|sat|o2|temp|febrile|fever|afebrile)\b", findings_text)
    exam: Lines = [] if vitals_named else [[T.vitals(rng)]]
    abnormal = [(T.exam_system(m.text) or "general", m) for m in mentions if m.section == "exam"]
    systems = list(T.EXAM_FILLER) if long_form else ["general", "cv", "lungs"]
    for system in systems + sorted({s for s, _ in abnormal} - set(systems)):
        findings = [[T.EXAM_SYSTEM_LABELS[system] + ": "] + m.pieces() for s, m in abnormal if s == system]
        # An abnormal finding replaces its system's normal line instead of contradicting it.
        if findings or any(keyword in evidence_text for keyword in T.EXAM_SYSTEM_KEYWORDS.get(system, ())):
            exam += findings
        else:
            exam.append([T.expand(rng, rng.choice(T.EXAM_FILLER[system]))])
    sections["exam"] = exam

    evidence_words = set(re.findall(r"[a-z0-9]+", evidence_text))
    labs = [[T.lab_panel(rng, T.LAB_PANEL_LEADS[0], evidence_words, keep=0.8 if long_form else 0.3)]]
    labs += [[rng.choice(("", "- ", "Notable for "))] + item + ["."] for item in at("finding")]
    labs += sentences(T.NEGATED_RESULTS, at("labs", "negated"))
    if long_form:
        labs += [[T.expand(rng, t)] for key, t in T.IMAGING_FILLER
                 if rng.random() < 0.5 and not any(k in evidence_text for k in T.IMAGING_SUPPRESS[key])]
    sections["labs"] = labs

    plan: Lines = []
    for m in mentions:
        if m.section == "plan" and m.kind == "evidence":
            letter = m.code[0]
            plans = T.PLAN_BY_CHAPTER.get(letter, []) + ([] if letter == "Z" else T.GENERIC_PLAN)
            plan_text = T.expand(rng, rng.choice(plans))
            if discharge:
                follow_ups = T.COURSE_FOLLOW_UP.get(letter, []) + T.GENERIC_FOLLOW_UP
                told = [" " + T.expand(rng, t) for t in rng.sample(follow_ups, rng.randint(0, 2))]
                item = T.render(rng, rng.choice(T.COURSE_MENTION), {"m": m.pieces(), "plan": plan_text})
                plan.append(item + told)
            else:
                plan.append([rng.choice(T.PLAN_ITEM_PREFIXES)] + m.pieces() + [": " + plan_text])
    plan += [[rng.choice(("- ", "", "Plan: "))] + item for item in at("order")]
    plan += sentences(T.NEGATED_PLAN, at("plan", "negated"))
    plan += sentences(T.RULE_OUT_PLAN, at("plan", "rule_out"))
    rng.shuffle(plan)
    summary = T.render(rng, rng.choice(T.ASSESSMENT_SUMMARY), {"pt": pt, "cc": complaint})
    if not discharge:
        sections["plan"] = [summary] + plan + filler(T.PLAN_FILLER_ITEMS, (1, 3))
        return sections
    sections["course"] = [summary] + plan
    dx = at("dx")
    if dx:
        sections["dx"] = [["Primary: "] + dx[0]] + ([["Secondary: "] + T.as_list(dx[1:])] if dx[1:] else [])
    sections["dc_meds"] = [[T.expand(rng, T.DISCHARGE_MEDS_LEAD)]] + filler(T.FILLER_MEDS, (1, 4))
    sections["dc_condition"] = filler(T.DC_CONDITION, (1, 1))
    sections["dc_instructions"] = []
    doctor = rng.choice(T.FOLLOWUP_NAMES)
    sections["followup"] = [[T.expand(rng, t).replace("{name}", doctor)] for t in T.FOLLOWUP]
    return sections


def _pad_with_filler(rng: random.Random, sections: dict[str, Lines], target_words: int,
                     discharge: bool, evidence_text: str) -> None:
    """Adds text that supports no code until the note reaches its target length.

    Narrative sections get each filler sentence at most once; what is still missing then becomes further
    lab panels, as in the results section of a long stay.
    """
    missing = target_words - sum(_words(lines) for lines in sections.values())
    if missing <= 0:
        return
    suppressed = {key for key, words in T.IMAGING_SUPPRESS.items() if any(w in evidence_text for w in words)}
    reports = [template for key, template in T.REPORT_FILLER if key not in suppressed]
    # (section, filler, share of the missing words, times each filler sentence may appear)
    if discharge:
        shares = [("hpi", T.HPI_FILLER, 0.2, 2), ("course", T.COURSE_FILLER, 0.35, 2),
                  ("dc_instructions", T.DC_INSTRUCTIONS, 0.25, 2), ("labs", reports, 0.2, 1)]
    else:
        shares = [("hpi", T.HPI_FILLER, 0.3, 2), ("plan", T.HP_PLAN_FILLER, 0.3, 2),
                  ("labs", reports, 0.4, 1)]
    added = 0
    for key, templates, share, repeats in shares:
        budget, lines = share * missing, sections[key]
        # A sentence's choices differ when it comes back; real notes repeat themselves too.
        for template in _shuffled(rng, templates * repeats):
            if budget <= 0:
                break
            line: list[T.Piece] = [T.expand(rng, template)]
            # Filler goes between existing lines, never before a section's opening line.
            lines.insert(rng.randint(min(1, len(lines)), len(lines)), line)
            budget -= _words([line])
            added += _words([line])
    missing -= added
    leads = T.LAB_PANEL_LEADS + (T.LATER_LAB_LEADS if discharge else [])
    evidence_words = set(re.findall(r"[a-z0-9]+", evidence_text))
    for _ in range(_MAX_EXTRA_LAB_PANELS):
        if missing <= 0:
            break
        line = [T.lab_panel(rng, rng.choice(leads), evidence_words)]
        sections["labs"].insert(rng.randint(1, len(sections["labs"])), line)
        missing -= _words([line])


def _shuffled(rng: random.Random, items: list[str]) -> Iterator[str]:
    """The items in random order, shuffled only as far as they are taken (a lazy Fisher-Yates)."""
    items = list(items)
    for i in range(len(items)):
        j = rng.randrange(i, len(items))
        items[i], items[j] = items[j], items[i]
        yield items[i]


_MAX_EXTRA_LAB_PANELS = 8
_SECTION_ORDER = ("cc", "hpi", "pmh", "psh", "meds", "allergies", "social", "family", "ros", "exam", "labs",
                  "plan", "course", "dx", "dc_meds", "dc_condition", "dc_instructions", "followup")
# Narrative sections run on as one paragraph after their header; the others put one item per line.
_INLINE_SECTIONS = ("cc", "hpi", "allergies", "social", "family", "ros", "dc_instructions")


def _assemble(index: int, rng: random.Random, sections: dict[str, Lines], discharge: bool,
              gold: list[str]) -> Note:
    """Writes the sections out in order and records the character span of every tagged piece."""
    parts: list[str] = []
    cursor = 0
    evidence: dict[str, list[tuple[int, int]]] = {code: [] for code in gold}
    negated: list[Distractor] = []

    def emit(text: str) -> None:
        nonlocal cursor
        parts.append(text)
        cursor += len(text)

    emit(rng.choice(T.NOTE_TITLES["ds" if discharge else "hp"]) + "\n\n")
    for key in _SECTION_ORDER:
        lines = sections.get(key)
        if not lines:
            continue
        inline = key in _INLINE_SECTIONS
        emit(rng.choice(T.SECTION_HEADERS[key]) + (" " if inline else "\n"))
        for i, line in enumerate(lines):
            if i:
                emit(" " if inline else "\n")
            for piece in line:
                if isinstance(piece, str):
                    emit(piece)
                    continue
                text, code, kind = piece
                if kind == "evidence":
                    evidence[code].append((cursor, cursor + len(text)))
                else:
                    negated.append(Distractor(code, cursor, cursor + len(text), kind))
                emit(text)
        emit("\n\n")
    text = "".join(parts).rstrip() + "\n"
    return Note(id=f"synth-{index:06d}", text=text, codes=list(gold), evidence=evidence, negated=negated)


# --- the corpus --------------------------------------------------------------------------------------

_WORKER_STATE: dict[str, object] = {}


def _init_worker(space: LabelSpace, config: SynthConfig) -> None:
    _WORKER_STATE["space"], _WORKER_STATE["config"] = space, config


def _compose_range(bounds: tuple[int, int]) -> list[Note]:
    space, config = _WORKER_STATE["space"], _WORKER_STATE["config"]
    return [_compose(i, space, config) for i in range(*bounds)]  # type: ignore[arg-type]


def split_sizes(config: SynthConfig) -> dict[str, int]:
    """Notes per split: train and dev rounded from the fractions, test takes the rest."""
    n_train = round(config.n_notes * config.split_fractions[0])
    n_dev = round(config.n_notes * config.split_fractions[1])
    return {"train": n_train, "dev": n_dev, "test": config.n_notes - n_train - n_dev}


def generate_corpus(config: SynthConfig, workers: int = 1) -> Dataset:
    """All notes of the corpus, split into train/dev/test; identical for any number of worker processes."""
    space = build_label_space(config)
    if workers <= 1:
        notes = [_compose(i, space, config) for i in range(config.n_notes)]
    else:
        # Each note has its own seed, so chunking changes nothing but speed.
        step = max(50, min(1000, math.ceil(config.n_notes / (4 * workers))))
        chunks = [(start, min(start + step, config.n_notes)) for start in range(0, config.n_notes, step)]
        with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(space, config)) as pool:
            notes = [note for chunk in pool.map(_compose_range, chunks) for note in chunk]
    order = list(range(config.n_notes))
    random.Random(f"{config.seed}/splits").shuffle(order)
    sizes, dataset, start = split_sizes(config), {}, 0
    for split in SPLITS:
        dataset[split] = [notes[i] for i in sorted(order[start : start + sizes[split]])]
        start += sizes[split]
    return dataset


def label_table(dataset: Dataset, config: SynthConfig) -> dict[str, dict]:
    """{code: {"description", "train_count"}} over the whole label space, sorted by code."""
    counts = Counter(code for note in dataset["train"] for code in note.codes)
    labels = sorted(build_label_space(config).labels)
    return {code: {"description": icd.description(code), "train_count": counts[code]} for code in labels}


def write_synthetic_corpus(config: SynthConfig, out_dir: str | Path, workers: int = 1) -> Path:
    """Generates the corpus and writes it into out_dir (see `write_corpus_files`); returns out_dir."""
    return write_corpus_files(generate_corpus(config, workers=workers), config, out_dir)


def write_corpus_files(dataset: Dataset, config: SynthConfig, out_dir: str | Path) -> Path:
    """Writes train/dev/test.jsonl, labels.json and synth_config.json into out_dir; returns out_dir."""
    out_dir = Path(out_dir)
    write_dataset(dataset, out_dir)
    with open(out_dir / "labels.json", "w", encoding="utf-8") as f:
        json.dump(label_table(dataset, config), f, indent=1, ensure_ascii=False)
        f.write("\n")
    with open(out_dir / "synth_config.json", "w", encoding="utf-8") as f:
        json.dump(asdict(config), f, indent=1)
        f.write("\n")
    return out_dir

"""The synthetic note generator: determinism, exact evidence spans, distractors, label shape, files."""

from __future__ import annotations

import json
import os
import random
import re
import statistics
import subprocess
import sys
from collections import Counter

import pytest

from plant_core import codes as icd
from plant_core.corpus import note_templates as T
from plant_core.corpus.records import SPLITS, iter_jsonl
from plant_core.corpus.synthetic import (
    DEFAULT_DATA_DIR,
    SynthConfig,
    build_label_space,
    generate_corpus,
    label_table,
    split_sizes,
    write_synthetic_corpus,
)

FILES = ("train.jsonl", "dev.jsonl", "test.jsonl", "labels.json", "synth_config.json")


@pytest.fixture(scope="module")
def tiny_config() -> SynthConfig:
    return SynthConfig.named("tiny")


@pytest.fixture(scope="module")
def tiny(tiny_config):
    return generate_corpus(tiny_config)


@pytest.fixture(scope="module")
def tiny_notes(tiny):
    return [note for split in SPLITS for note in tiny[split]]


@pytest.fixture(scope="module")
def long_notes():
    """Discharge summaries and H&Ps of a few hundred words, where every section and filler kind shows up."""
    config = SynthConfig.named("demo", n_notes=300, n_labels=400, seed=7)
    return [note for notes in generate_corpus(config).values() for note in notes]


@pytest.fixture(scope="module")
def demo():
    config = SynthConfig.named("demo")
    return config, generate_corpus(config)


def test_same_seed_writes_byte_identical_files(tmp_path, tiny_config):
    first = write_synthetic_corpus(tiny_config, tmp_path / "a")
    second = write_synthetic_corpus(tiny_config, tmp_path / "b")
    for name in FILES:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_files_do_not_depend_on_python_string_hashing(tmp_path):
    script = (
        "import sys; from plant_core.corpus.synthetic import SynthConfig, write_synthetic_corpus; "
        "write_synthetic_corpus(SynthConfig.named('tiny', n_notes=60), sys.argv[1])"
    )
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        subprocess.run([sys.executable, "-c", script, str(tmp_path / hash_seed)], check=True, env=env)
    for name in FILES:
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes(), name


def test_different_seed_gives_different_notes(tiny, tiny_config):
    other = generate_corpus(SynthConfig.named("tiny", seed=tiny_config.seed + 1))
    texts = [note.text for note in tiny["train"]]
    other_texts = [note.text for note in other["train"]]
    assert texts != other_texts
    assert len(set(texts) & set(other_texts)) < len(texts) // 10


def test_output_does_not_depend_on_the_number_of_worker_processes():
    config = SynthConfig.named("tiny", n_notes=240, seed=3)
    alone = generate_corpus(config, workers=1)
    shared = generate_corpus(config, workers=2)
    for split in SPLITS:
        assert [n.to_json() for n in alone[split]] == [n.to_json() for n in shared[split]]


def test_every_evidence_span_is_non_blank_text_inside_its_note(tiny_notes, long_notes):
    for note in tiny_notes + long_notes:
        for code, spans in note.evidence.items():
            for start, end in spans:
                assert 0 <= start < end <= len(note.text), (note.id, code)
                mention = note.text[start:end]
                assert mention.strip() == mention and mention, (note.id, code, mention)


def test_evidence_never_lies_inside_a_distractor(tiny_notes, long_notes):
    for note in tiny_notes + long_notes:
        for spans in note.evidence.values():
            for start, end in spans:
                for d in note.negated:
                    assert end <= d.start or start >= d.end, (note.id, note.text[start:end], d)


def test_distractors_name_codes_that_are_not_gold(tiny_notes, long_notes):
    kinds = Counter()
    for note in tiny_notes + long_notes:
        for d in note.negated:
            assert d.code not in note.codes
            assert d.kind in ("negated", "family_history", "rule_out")
            assert note.text[d.start : d.end].strip(), (note.id, d)
            kinds[d.kind] += 1
    assert set(kinds) == {"negated", "family_history", "rule_out"}


def test_every_gold_code_has_one_to_three_evidence_mentions(tiny_notes, long_notes):
    for note in tiny_notes + long_notes:
        assert list(note.evidence) == note.codes
        for code, spans in note.evidence.items():
            assert 1 <= len(spans) <= 3, (note.id, code, spans)


def test_codes_per_note_stay_within_the_configured_bounds(tiny_notes, tiny_config):
    counts = [len(note.codes) for note in tiny_notes]
    assert all(len(set(note.codes)) == len(note.codes) for note in tiny_notes)
    assert min(counts) >= tiny_config.codes_per_note_min
    assert max(counts) <= tiny_config.codes_per_note_max
    wide = generate_corpus(SynthConfig.named("demo", n_notes=200, n_labels=300, codes_per_note_min=6,
                                             codes_per_note_max=9))
    assert {len(n.codes) for notes in wide.values() for n in notes} <= set(range(6, 10))


def test_all_codes_are_billable_icd10cm_codes_of_the_label_space(tiny_notes, tiny_config):
    labels = set(build_label_space(tiny_config).labels)
    assert len(labels) == tiny_config.n_labels
    for code in labels:
        assert icd.is_billable(code) and icd.normalize(code) == code
    for note in tiny_notes:
        assert set(note.codes) <= labels
        assert all(icd.is_valid(d.code) for d in note.negated)


def test_rare_tail_skips_external_causes_newborns_and_later_encounters():
    labels = build_label_space(SynthConfig.named("bench")).labels
    assert len(labels) == len(set(labels)) == 8000
    assert not [code for code in labels if code[0] in "PVX" or code.startswith("Z38")]
    injuries = [code for code in labels if code[0] in "ST"]
    assert injuries and all(code.endswith("A") for code in injuries)


def test_splits_are_disjoint_and_sized_by_the_fractions(tiny, tiny_config):
    ids = {split: [note.id for note in tiny[split]] for split in SPLITS}
    all_ids = [note_id for split in SPLITS for note_id in ids[split]]
    assert len(all_ids) == len(set(all_ids)) == tiny_config.n_notes
    assert {split: len(v) for split, v in ids.items()} == split_sizes(tiny_config)
    assert split_sizes(tiny_config) == {"train": 320, "dev": 40, "test": 40}
    custom = SynthConfig.named("tiny", n_notes=101, split_fractions=(0.6, 0.2, 0.2))
    assert split_sizes(custom) == {"train": 61, "dev": 20, "test": 20}


def test_written_files_parse_back_and_label_counts_match_train(tmp_path, tiny_config):
    out = write_synthetic_corpus(tiny_config, tmp_path)
    read = {split: list(iter_jsonl(out / f"{split}.jsonl")) for split in SPLITS}
    generated = generate_corpus(tiny_config)
    assert [n.to_json() for n in read["train"]] == [n.to_json() for n in generated["train"]]
    labels = json.loads((out / "labels.json").read_text())
    counts = Counter(code for note in read["train"] for code in note.codes)
    assert list(labels) == sorted(labels)
    assert len(labels) == tiny_config.n_labels
    assert {code: entry["train_count"] for code, entry in labels.items() if entry["train_count"]} == counts
    assert labels["I10"]["description"] == icd.description("I10")
    assert json.loads((out / "synth_config.json").read_text())["n_notes"] == tiny_config.n_notes


def test_demo_labels_have_a_long_tail(demo):
    config, dataset = demo
    counts = [entry["train_count"] for entry in label_table(dataset, config).values()]
    seen = [c for c in counts if c > 0]
    assert len(seen) >= 0.9 * config.n_labels
    assert max(seen) >= 20 * statistics.median(seen)
    assert sum(1 for c in seen if c <= 5) >= 0.2 * len(seen)


def test_demo_notes_have_realistic_size(demo):
    config, dataset = demo
    notes = [note for notes in dataset.values() for note in notes]
    assert len(notes) == config.n_notes
    assert 250 <= statistics.mean(len(n.text.split()) for n in notes) <= 600
    assert 7 <= statistics.mean(len(n.codes) for n in notes) <= 13
    assert 1.0 <= statistics.mean(len(n.negated) for n in notes) <= 3.0


def test_notes_read_like_clinical_notes(tiny_notes, long_notes):
    plan_headers = tuple(T.SECTION_HEADERS["plan"] + T.SECTION_HEADERS["course"])
    for note in tiny_notes + long_notes:
        assert any(h in note.text for h in T.SECTION_HEADERS["hpi"]), note.id
        assert any(h in note.text for h in plan_headers), note.id
        assert re.search(r"\b\d{2}(?: ?y/o| ?yo| year old|-year-old| y\.o\.| YO|[MF]\b)", note.text), note.id
        # No template syntax or spacing slips leak into the text.
        slip = re.search(r"[\[\]{}|]|,,| ,| \.|\w {2,}\w|[a-z]\.[A-Z][a-z]", note.text)
        assert slip is None, (note.id, note.text[slip.start() - 40 : slip.end() + 40])
    text = "\n".join(note.text for note in long_notes)
    for filler in ("RRR", "CTAB", "NKDA", "PT/OT", "tolerating PO"):
        assert filler in text


FILLER_POOLS = (
    "HPI_FILLER", "ROS_FILLER", "EXAM_FILLER", "IMAGING_FILLER", "REPORT_FILLER", "FILLER_MEDS", "PSH_FILLER",
    "SOCIAL_FILLER", "FAMILY_FILLER", "COURSE_FILLER", "HP_PLAN_FILLER", "DC_CONDITION", "DC_INSTRUCTIONS",
    "PLAN_FILLER_ITEMS", "PLAN_BY_CHAPTER", "GENERIC_PLAN", "COURSE_FOLLOW_UP", "GENERIC_FOLLOW_UP",
    "GENERIC_COMPLAINTS",
)


def test_filler_names_no_condition_of_the_lexicon():
    lexicon = json.loads((DEFAULT_DATA_DIR / "clinical_lexicon.json").read_text())["codes"]
    mentions = {m.lower() for entry in lexicon.values() for m in entry["mentions"] if len(m) >= 3}

    def texts(pool):
        if isinstance(pool, str):
            yield pool
        elif isinstance(pool, dict):
            for value in pool.values():
                yield from texts(value)
        else:
            for value in pool:
                yield from texts(value)

    # Every alternative of every choice, as words set apart by " | ".
    templates = [template for name in FILLER_POOLS for template in texts(getattr(T, name))]
    filler = " | ".join(re.sub(r"[\[\]|]", " | ", template).lower() for template in templates)
    named = [m for m in mentions if re.search(r"(?<![\w/])" + re.escape(m) + r"(?![\w/])", filler)]
    assert named == []


def test_evidence_uses_clinician_wording_not_only_official_titles(long_notes):
    mentions = [
        (code, note.text[start:end])
        for note in long_notes
        for code, spans in note.evidence.items()
        for start, end in spans
    ]
    official = sum(1 for code, text in mentions if text.lower() == icd.description(code).lower())
    assert official < 0.1 * len(mentions)
    words = {w for _, text in mentions for w in re.findall(r"[\w/]+", text)}
    assert {"HTN", "HLD"} & words and {"h/o", "s/p", "CKD", "CAD"} & words


def test_paraphrase_drops_unspecified_and_encounter_boilerplate():
    title = "Fracture of unspecified part of neck of right femur, initial encounter for closed fracture"
    rng = random.Random(0)
    for _ in range(30):
        wording = T.paraphrase(title, rng)
        assert "unspecified" not in wording and "encounter" not in wording
        assert "femur" in wording


def test_unknown_preset_and_bad_fractions_are_rejected():
    with pytest.raises(ValueError, match="tiny"):
        SynthConfig.named("huge")
    with pytest.raises(ValueError, match="split_fractions"):
        SynthConfig(split_fractions=(0.5, 0.1, 0.1))


def test_missing_code_table_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="top_inpatient_codes.csv"):
        generate_corpus(SynthConfig.named("tiny", data_dir=str(tmp_path)))

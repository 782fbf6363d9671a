"""Checks on the hand-written code tables the synthetic corpus is generated from (data/).

They guard what the generator and the demo model rely on: billable codes only, one lexicon entry per frequent
code, wordings that tell sibling codes apart, and comorbidity clusters that could all be coded on one stay.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import cache
from pathlib import Path

import pandas as pd
import pytest
import simple_icd_10_cm as icd

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
TOP_CODES = DATA_DIR / "top_inpatient_codes.csv"
LEXICON = DATA_DIR / "clinical_lexicon.json"
CLUSTERS = DATA_DIR / "comorbidity_clusters.json"

SECTIONS = {"hpi", "pmh", "social", "assessment"}
ENTRY_FIELDS = {"mentions", "medications", "findings", "negatable", "section"}


@cache
def top_codes() -> pd.DataFrame:
    return pd.read_csv(TOP_CODES, comment="#", dtype={"code": str})


@cache
def lexicon() -> dict:
    with open(LEXICON, encoding="utf-8") as f:
        return json.load(f)


@cache
def clusters() -> list[dict]:
    with open(CLUSTERS, encoding="utf-8") as f:
        return json.load(f)["clusters"]


def is_billable(code: str) -> bool:
    return icd.is_valid_item(code) and icd.is_leaf(code)


# --- top_inpatient_codes.csv -------------------------------------------------------------------------


def test_top_codes_table_has_the_documented_columns_and_ranks():
    table = top_codes()
    assert list(table.columns) == ["rank", "code", "description", "relative_frequency"]
    assert len(table) >= 300
    assert table["rank"].is_unique
    assert sorted(table["rank"]) == list(range(1, len(table) + 1))
    assert table["code"].is_unique
    assert table["description"].str.strip().str.len().gt(0).all()


def test_top_codes_relative_frequencies_are_shares_that_fall_with_rank():
    table = top_codes().sort_values("rank")
    shares = table["relative_frequency"]
    assert ((shares > 0) & (shares < 1)).all()
    assert shares.is_monotonic_decreasing
    # The most common inpatient diagnoses are listed on a large share of stays.
    assert set(table["code"].head(10)) >= {"I10", "E78.5"}


def test_top_codes_table_names_its_source_in_comment_lines():
    header = [line for line in TOP_CODES.read_text(encoding="utf-8").splitlines() if line.startswith("#")]
    assert header, "the table must open with # comment lines naming its source"
    text = " ".join(header)
    assert "HCUP" in text and "approximate" in text


def test_top_codes_descriptions_are_the_official_titles():
    table = top_codes()
    for code, description in zip(table["code"], table["description"], strict=True):
        assert description == icd.get_description(code), code


# --- every file: billable codes only ------------------------------------------------------------------


def test_every_code_in_the_three_files_is_billable():
    codes = set(top_codes()["code"]) | set(lexicon()["codes"])
    codes |= {code for cluster in clusters() for code in cluster["codes"]}
    invalid = sorted(code for code in codes if not is_billable(code))
    assert not invalid, f"not valid billable ICD-10-CM codes: {invalid}"


# --- clinical_lexicon.json ----------------------------------------------------------------------------


def test_every_top_code_has_a_lexicon_entry():
    missing = sorted(set(top_codes()["code"]) - set(lexicon()["codes"]))
    assert not missing, f"top codes without a lexicon entry: {missing}"


def test_lexicon_states_its_source():
    assert "not derived from patient data" in lexicon()["source"]


def test_lexicon_entries_have_the_fields_the_generator_reads():
    for code, entry in lexicon()["codes"].items():
        assert set(entry) == ENTRY_FIELDS, code
        assert isinstance(entry["negatable"], bool), code
        assert entry["section"] in SECTIONS, code
        assert len(entry["medications"]) <= 6, code
        assert len(entry["findings"]) <= 5, code


def test_lexicon_mentions_are_plentiful_distinct_and_clean():
    for code, entry in lexicon()["codes"].items():
        mentions = entry["mentions"]
        assert 4 <= len(mentions) <= 15, f"{code}: {len(mentions)} mentions"
        lowered = [m.lower() for m in mentions]
        assert len(set(lowered)) == len(lowered), f"{code}: duplicate mentions {Counter(lowered).most_common(1)}"
        for text in mentions + entry["medications"] + entry["findings"]:
            assert isinstance(text, str) and text.strip() == text and text, f"{code}: {text!r}"


def test_no_mention_is_shared_by_two_codes():
    owners: dict[str, list[str]] = {}
    for code, entry in lexicon()["codes"].items():
        for mention in entry["mentions"]:
            owners.setdefault(mention.lower(), []).append(code)
    shared = {mention: codes for mention, codes in owners.items() if len(codes) > 1}
    assert not shared, f"mentions that would label two codes at once: {shared}"


def test_history_and_status_codes_are_not_negatable():
    # "No history of CABG" is not a finding a coder would read as excluding Z95.1; these are never distractors.
    negatable_history = sorted(
        code for code, entry in lexicon()["codes"].items()
        if entry["negatable"] and re.match(r"Z(8[5-7]|9[0-9])", code)
    )
    assert not negatable_history


# Words a clinician uses to single out one code among its siblings; each must appear in some mention.
SIBLING_WORDING = {
    "E11.9": ["t2dm", "type 2"],
    "E11.65": ["uncontrolled", "poorly controlled", "hyperglycemia"],
    "E11.22": ["ckd", "kidney"],
    "E11.21": ["nephropathy"],
    "I50.9": ["chf"],
    "I50.23": ["acute on chronic", "systolic", "hfref"],
    "I50.33": ["acute on chronic", "diastolic", "hfpef"],
    "I50.32": ["chronic", "diastolic", "hfpef"],
    "N17.9": ["aki", "acute kidney injury"],
    "N18.31": ["3a"],
    "N18.32": ["3b"],
    "N18.4": ["ckd4", "iv"],
    "N18.6": ["esrd"],
    "J44.1": ["exacerbation", "exac"],
    "J44.9": ["copd"],
    "A41.9": ["sepsis"],
    "A41.51": ["e. coli", "e coli"],
    "R65.20": ["severe sepsis"],
    "R65.21": ["septic shock"],
    "J96.01": ["hypoxic", "hypoxemic", "hypoxia"],
    "J96.02": ["hypercapnic", "hypercarbic"],
    "I48.0": ["paroxysmal"],
    "I48.21": ["permanent"],
    "F17.210": ["smoker", "cigarettes"],
    "Z87.891": ["former", "quit"],
}


@pytest.mark.parametrize("code", sorted(SIBLING_WORDING))
def test_sibling_codes_have_wordings_that_tell_them_apart(code):
    mentions = " | ".join(lexicon()["codes"][code]["mentions"]).lower()
    missing = [word for word in SIBLING_WORDING[code] if word not in mentions]
    assert not missing, f"{code}: no mention says {missing}"


# --- comorbidity_clusters.json ------------------------------------------------------------------------


def test_clusters_have_names_weights_and_codes_from_the_top_table():
    top = set(top_codes()["code"])
    found = clusters()
    assert 12 <= len(found) <= 25
    assert len({cluster["name"] for cluster in found}) == len(found)
    for cluster in found:
        assert cluster["weight"] > 0, cluster["name"]
        assert len(cluster["codes"]) >= 2, cluster["name"]
        assert len(set(cluster["codes"])) == len(cluster["codes"]), cluster["name"]
        outside = sorted(set(cluster["codes"]) - top)
        assert not outside, f"{cluster['name']}: codes not in the top table {outside}"
    assert sum(cluster["weight"] for cluster in found) == pytest.approx(1.0)


# Groups of codes that ICD-10-CM lets a stay carry at most one of.
EXCLUSIVE_GROUPS = {
    "hypertension family": r"I1[0-3]",
    "CKD stage": r"N18\.",
    "heart failure type": r"I50\.",
    "severe sepsis vs septic shock": r"R65\.2",
    "weeks of gestation": r"Z3A\.",
    "newborn birth place": r"Z38\.",
    "BMI": r"Z68\.",
    "atrial fibrillation type": r"I48\.[0-2]|I48\.91",
    "current vs former smoker": r"F17\.2|Z87\.891",
}


@pytest.mark.parametrize("group", sorted(EXCLUSIVE_GROUPS))
def test_clusters_never_hold_two_codes_a_stay_cannot_carry_together(group):
    pattern = re.compile(EXCLUSIVE_GROUPS[group])
    for cluster in clusters():
        members = [code for code in cluster["codes"] if pattern.match(code)]
        assert len(members) <= 1, f"{cluster['name']}: {members} ({group})"


def test_diabetes_without_complications_is_never_clustered_with_a_complication_code():
    for cluster in clusters():
        if "E11.9" in cluster["codes"]:
            others = [code for code in cluster["codes"] if code.startswith("E11.") and code != "E11.9"]
            assert not others, f"{cluster['name']}: E11.9 with {others}"


def test_uncomplicated_delivery_code_is_never_clustered_with_other_obstetric_codes():
    # O80 may only be coded when no other O code applies to the delivery.
    for cluster in clusters():
        if "O80" in cluster["codes"]:
            others = [code for code in cluster["codes"] if code.startswith("O") and code != "O80"]
            assert not others, f"{cluster['name']}: O80 with {others}"

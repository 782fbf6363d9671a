"""The exporters on hand-made submitted notes: each format parsed back; FHIR validated and checked."""

import copy
import csv
import io
import json
from datetime import UTC, datetime

import pytest
from fhir.resources.R4B.bundle import Bundle

from app.services import exporters
from app.services.exporters import ExportCode, ExportNote
from plant_core.corpus.loaders import load_corpus
from plant_core.corpus.records import iter_jsonl

DECIDED = datetime(2025, 11, 25, 9, 30, tzinfo=UTC)


def _notes() -> list[ExportNote]:
    return [
        ExportNote(
            external_id="n1",
            subject_id="101",
            hadm_id="2001",
            text="+ Pt with COPD and type 2 diabetes.",
            revision=2,
            submitted_by="alice",
            submitted_at=DECIDED,
            codes=[
                ExportCode(
                    "J44.9",
                    "Chronic obstructive pulmonary disease, unspecified",
                    "accepted",
                    "alice",
                    DECIDED,
                    "plant-v1",
                    0.91,
                ),
                ExportCode(
                    "I10", "Essential (primary) hypertension", "rejected", "bob", DECIDED, "plant-v1", 0.4
                ),
                ExportCode(
                    "E11.9",
                    "Type 2 diabetes mellitus without complications",
                    "added",
                    "=cmd|' /C calc'!A0",
                    DECIDED,
                    None,
                    None,
                    [[19, 34]],
                ),
            ],
        ),
        ExportNote(
            external_id="n2",
            subject_id=None,
            hadm_id=None,
            text="Essential hypertension.",
            revision=1,
            submitted_by="bob",
            submitted_at=DECIDED,
            codes=[
                ExportCode(
                    "I10", "-Essential (primary) hypertension", "accepted", "bob", DECIDED, "plant-v1", 0.8
                )
            ],
        ),
    ]


def test_csv_has_one_row_per_decision_with_coder_and_model_version():
    rows = list(csv.DictReader(io.StringIO(exporters.to_csv(_notes()).decode())))
    assert [(r["note_id"], r["code"], r["decision"]) for r in rows] == [
        ("n1", "J44.9", "accepted"),
        ("n1", "I10", "rejected"),
        ("n1", "E11.9", "added"),
        ("n2", "I10", "accepted"),
    ]
    assert (
        rows[0]["model_version"] == "plant-v1"
        and rows[0]["coder"] == "alice"
        and rows[0]["probability"] == "0.9100"
    )
    assert rows[2]["model_version"] == "" and rows[2]["submitted_by"] == "alice"


def test_spreadsheet_cells_that_start_like_a_formula_are_neutralised():
    rows = list(csv.DictReader(io.StringIO(exporters.to_csv(_notes()).decode())))
    assert rows[2]["coder"] == "'=cmd|' /C calc'!A0"
    assert rows[3]["description"] == "'-Essential (primary) hypertension"
    caml = list(csv.DictReader(io.StringIO(exporters.to_caml_csv(_notes()).decode())))
    assert caml[0]["TEXT"] == "'+ Pt with COPD and type 2 diabetes."
    for value in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert exporters.neutralize_cell(value) == "'" + value
    assert exporters.neutralize_cell("E11.9") == "E11.9" and exporters.neutralize_cell(3) == 3


def test_jsonl_reads_back_as_a_corpus_with_the_audit_trail(tmp_path):
    path = tmp_path / "labels.jsonl"
    path.write_bytes(exporters.to_jsonl(_notes()))
    corpus = list(iter_jsonl(path))
    assert [(n.id, n.codes) for n in corpus] == [("n1", ["J44.9", "E11.9"]), ("n2", ["I10"])]
    assert corpus[0].evidence == {"E11.9": [(19, 34)]}
    first = json.loads(path.read_text().splitlines()[0])
    assert first["revision"] == 2 and first["submitted_by"] == "alice"
    assert {d["code"]: (d["decision"], d["coder"], d["model_version"]) for d in first["decisions"]} == {
        "J44.9": ("accepted", "alice", "plant-v1"),
        "I10": ("rejected", "bob", "plant-v1"),
        "E11.9": ("added", "=cmd|' /C calc'!A0", None),
    }


def test_caml_csv_has_caml_columns_and_loads_with_plant_core(tmp_path):
    path = tmp_path / "train_coded.csv"
    path.write_bytes(exporters.to_caml_csv(_notes()))
    with open(path, newline="") as f:
        reader = csv.reader(f)
        assert next(reader) == ["SUBJECT_ID", "HADM_ID", "TEXT", "LABELS", "length"]
        first = next(reader)
    assert first[:2] == ["101", "2001"] and first[3] == "J44.9;E11.9" and first[4] == "8"
    loaded = load_corpus(path, format="caml")["train"]
    assert [(n.id, n.codes) for n in loaded] == [("2001", ["J44.9", "E11.9"]), ("n2", ["I10"])]


def test_fhir_bundle_validates_and_holds_one_condition_per_code():
    bundle = exporters.to_fhir_bundle(_notes(), now=DECIDED)
    Bundle.model_validate(bundle)
    assert exporters.fhir_problems(bundle) == []
    conditions = [entry["resource"] for entry in bundle["entry"]]
    assert [c["code"]["coding"][0]["code"] for c in conditions] == ["J44.9", "E11.9", "I10"]
    for condition in conditions:
        assert condition["code"]["coding"][0]["system"] == "http://hl7.org/fhir/sid/icd-10-cm"
        assert condition["subject"]["identifier"]["value"]
        assert condition["verificationStatus"]["coding"][0]["code"] == "confirmed"
    assert conditions[0]["subject"]["identifier"]["value"] == "101"
    assert conditions[0]["encounter"]["identifier"]["value"] == "2001"
    assert conditions[2]["subject"]["identifier"] == {"system": exporters.NOTE_ID_SYSTEM, "value": "n2"}
    assert "plant-v1" in conditions[0]["note"][0]["text"] and conditions[0]["recorder"]["display"] == "alice"
    assert "added by the coder" in conditions[1]["note"][0]["text"]
    assert len({entry["fullUrl"] for entry in bundle["entry"]}) == 3


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda c: c["clinicalStatus"]["coding"][0].update(code="bogus"), "clinicalStatus code 'bogus'"),
        (
            lambda c: c["verificationStatus"]["coding"][0].update(code="active"),
            "verificationStatus code 'active'",
        ),
        (
            lambda c: c["clinicalStatus"]["coding"][0].update(system="http://example.org"),
            "clinicalStatus system",
        ),
        (
            lambda c: c["code"]["coding"][0].update(system="http://hl7.org/fhir/sid/icd-10"),
            "needs a coding with system",
        ),
        (lambda c: c["code"]["coding"][0].update(code="Z99.999"), "'Z99.999' is not an ICD-10-CM code"),
        (lambda c: c["code"]["coding"][0].update(code="J449"), "'J449' is not an ICD-10-CM code"),
        (lambda c: c.update(subject={"display": "someone"}), "subject must reference the patient"),
        (lambda c: c.pop("subject"), "not a valid R4B Bundle"),
    ],
)
def test_fhir_check_catches_what_structure_validation_lets_through(damage, problem):
    bundle = copy.deepcopy(exporters.to_fhir_bundle(_notes(), now=DECIDED))
    damage(bundle["entry"][0]["resource"])
    problems = exporters.fhir_problems(bundle)
    assert any(problem in p for p in problems), problems


def test_fhir_export_refuses_a_code_that_does_not_exist():
    note = _notes()[1]
    broken = ExportNote(
        **{**note.__dict__, "codes": [ExportCode("Z99.999", "", "added", "bob", DECIDED, None, None)]}
    )
    with pytest.raises(exporters.FhirExportError, match="Z99.999"):
        exporters.to_fhir_bundle([broken])

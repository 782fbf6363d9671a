"""Loaders and writers for the corpus formats MIMIC users have: tiny files written here, never MIMIC data."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as parquet
import pytest

from plant_core.corpus.loaders import (
    DEFAULT_SPLIT_FRACTIONS,
    detect_format,
    load_corpus,
    write_caml,
    write_edin,
    write_xcube,
)
from plant_core.corpus.records import CorpusFormatError, Dataset, Distractor, Note, write_dataset

CAML_HEADER = "SUBJECT_ID,HADM_ID,TEXT,LABELS,length\n"


def tricky_dataset() -> Dataset:
    """Texts with commas, quotes, newlines and non-ASCII characters: what breaks naive CSV handling."""
    return {
        "train": [
            Note(
                id="101",
                text='Type 2 diabetes, "well controlled".\nDenies chest pain.',
                codes=["E11.9", "I10"],
                evidence={"E11.9": [(0, 15)]},
                negated=[Distractor(code="I20.9", start=40, end=50, kind="negated")],
            ),
            Note(id="102", text="Café-au-lait spots; no fever,\n\nno rash.", codes=["L81.3"]),
            Note(id="103", text="Essential hypertension", codes=["I10"]),
        ],
        "dev": [Note(id="201", text="Asthma, mild intermittent", codes=["J45.20"])],
        "test": [Note(id="301", text="Heart failure, unspecified\r\nand CKD", codes=["I50.9", "N18.9"])],
    }


def id_text_codes(dataset: Dataset) -> dict[str, list[tuple[str, str, list[str]]]]:
    return {split: [(n.id, n.text, n.codes) for n in notes] for split, notes in dataset.items()}


def write_text(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def write_caml_dir(directory: Path, rows_by_split: dict[str, str], subset: str = "full") -> Path:
    directory.mkdir(exist_ok=True)
    for split, rows in rows_by_split.items():
        write_text(directory / f"{split}_{subset}.csv", CAML_HEADER + rows)
    return directory


# ---- round trips: write -> load ---------------------------------------------------------------------


def test_canonical_jsonl_directory_round_trips_every_field(tmp_path):
    dataset = tricky_dataset()
    write_dataset(dataset, tmp_path)
    assert load_corpus(tmp_path) == dataset


def test_caml_round_trip_keeps_ids_texts_and_codes(tmp_path):
    dataset = tricky_dataset()
    write_caml(dataset, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dev_full.csv", "test_full.csv", "train_full.csv"]
    assert id_text_codes(load_corpus(tmp_path, "caml")) == id_text_codes(dataset)


def test_caml_writer_uses_the_exact_caml_layout(tmp_path):
    write_caml(tricky_dataset(), tmp_path)
    frame = pd.read_csv(tmp_path / "train_full.csv", dtype=str, keep_default_na=False)
    assert list(frame.columns) == ["SUBJECT_ID", "HADM_ID", "TEXT", "LABELS", "length"]
    assert frame["HADM_ID"].tolist() == ["101", "102", "103"]
    assert frame["LABELS"].tolist() == ["E11.9;I10", "L81.3", "I10"]
    # length counts whitespace tokens: "Type 2 diabetes, "well controlled". Denies chest pain." has 8.
    assert frame["length"].tolist() == ["8", "6", "2"]


def test_caml_subset_50_writes_and_reads_the_50_files(tmp_path):
    dataset = tricky_dataset()
    write_caml(dataset, tmp_path, subset="50")
    assert (tmp_path / "train_50.csv").is_file()
    assert id_text_codes(load_corpus(tmp_path, "caml", subset="50")) == id_text_codes(dataset)


def test_xcube_round_trip_and_layout(tmp_path):
    dataset = tricky_dataset()
    path = write_xcube(dataset, tmp_path / "plant_synth.csv")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert list(frame.columns) == ["subject_id", "hadm_id", "text", "labels", "length", "is_valid", "split"]
    assert frame["split"].tolist() == ["train", "train", "train", "dev", "test"]
    assert frame["is_valid"].tolist() == ["False", "False", "False", "False", "True"]
    assert id_text_codes(load_corpus(path)) == id_text_codes(dataset)


@pytest.mark.parametrize("file_format", ["feather", "parquet"])
def test_edin_round_trip_from_directory_or_data_file(tmp_path, file_format):
    dataset = tricky_dataset()
    data_file, split_file = write_edin(dataset, tmp_path, "synth", file_format=file_format)
    assert (data_file.name, split_file.name) == (f"synth.{file_format}", f"synth_split.{file_format}")
    assert id_text_codes(load_corpus(tmp_path)) == id_text_codes(dataset)
    assert id_text_codes(load_corpus(data_file, "edin")) == id_text_codes(dataset)


def test_edin_writer_follows_edin_columns_with_integer_ids_and_val_split(tmp_path):
    data_file, split_file = write_edin(tricky_dataset(), tmp_path)
    table = feather.read_table(data_file)
    assert table.schema.field("_id").type == pa.int64()
    assert {"_id", "text", "target", "icd10_diag", "icd10_proc", "num_words", "num_targets"} <= set(
        table.column_names
    )
    assert table.column("target").to_pylist()[0] == ["E11.9", "I10"]
    assert feather.read_table(split_file).column("split").to_pylist() == ["train"] * 3 + ["val", "test"]


def test_edin_writer_keeps_non_numeric_ids_as_strings(tmp_path):
    dataset = {"train": [Note(id="syn-0001", text="Hypertension", codes=["I10"])]}
    write_edin(dataset, tmp_path)
    assert load_corpus(tmp_path)["train"][0].id == "syn-0001"


# ---- each format on a good hand-written file -------------------------------------------------------


def test_caml_icd9_labels_are_opaque_strings_keyed_by_hadm_id(tmp_path):
    write_caml_dir(tmp_path, {
        "train": "7,100626,admission date discharge date,401.9;428.0;V58.61,5\n"
                 "9,176541,multiple stab wounds,E880.9;34.71,3\n",
        "dev": "11,100001,dev note text,038.9,3\n",
        "test": "12,100002,test note text,,3\n",
    }, subset="50")
    dataset = load_corpus(tmp_path, subset="50")
    assert id_text_codes(dataset) == {
        "train": [("100626", "admission date discharge date", ["401.9", "428.0", "V58.61"]),
                  ("176541", "multiple stab wounds", ["E880.9", "34.71"])],
        "dev": [("100001", "dev note text", ["038.9"])],
        "test": [("100002", "test note text", [])],
    }


def test_a_single_caml_file_is_read_as_the_split_its_name_gives(tmp_path):
    write_caml_dir(tmp_path, {"test": "1,5,some text,401.9,2\n"}, subset="50")
    assert id_text_codes(load_corpus(tmp_path / "test_50.csv")) == {"test": [("5", "some text", ["401.9"])]}


def test_xcube_mimic4_file_uses_id_and_val_split(tmp_path):
    path = write_text(tmp_path / "mimic4_icd10_full.csv",
                      "note_id,subject_id,_id,text,icd10_diag,labels,num_words,num_targets,split,is_valid\n"
                      "n1,10000084,23052089,visual hallucinations,[],E78.5;F02.80,2,2,val,False\n"
                      "n2,10000117,22927623,dysphagia,[],F41.9;K21.9,1,2,train,False\n"
                      "n3,10000118,22927624,chest pain,[],R07.9,2,1,test,True\n")
    assert id_text_codes(load_corpus(path, "xcube")) == {
        "train": [("22927623", "dysphagia", ["F41.9", "K21.9"])],
        "dev": [("23052089", "visual hallucinations", ["E78.5", "F02.80"])],
        "test": [("22927624", "chest pain", ["R07.9"])],
    }


def test_xcube_file_with_only_is_valid_puts_valid_rows_in_test(tmp_path):
    path = write_text(tmp_path / "mimic3-9k.csv",
                      "subject_id,hadm_id,text,labels,length,is_valid\n"
                      "1,11,first note,401.9,2,False\n"
                      "2,12,second note,428.0,2,True\n")
    dataset = load_corpus(path)
    assert {split: [n.id for n in notes] for split, notes in dataset.items()} == {"train": ["11"], "test": ["12"]}


def test_edin_table_with_split_file_maps_val_and_joins_on_id(tmp_path):
    feather.write_feather(pa.table({
        "subject_id": pa.array([1, 2, 3, 4], pa.int64()),
        "_id": pa.array([20000001, 20000002, 20000003, 20000004], pa.int64()),
        "text": ["note one", "note two", "note three", "not in the split file"],
        "icd10_diag": [["E11.9"], ["I10", "N18.9"], ["J45.20"], ["I10"]],
        "icd10_proc": [["0DTJ4ZZ"], [], [], []],
        "target": [["0DTJ4ZZ", "E11.9"], ["I10", "N18.9"], ["J45.20"], ["I10"]],
        "num_words": [2, 2, 2, 5],
    }), tmp_path / "mimiciv_icd10.feather")
    feather.write_feather(pa.table({"_id": pa.array([20000003, 20000001, 20000002], pa.int64()),
                                    "split": ["test", "train", "val"]}), tmp_path / "mimiciv_icd10_split.feather")
    assert detect_format(tmp_path) == "edin"
    assert id_text_codes(load_corpus(tmp_path)) == {
        "train": [("20000001", "note one", ["0DTJ4ZZ", "E11.9"])],
        "dev": [("20000002", "note two", ["I10", "N18.9"])],
        "test": [("20000003", "note three", ["J45.20"])],
    }
    diagnoses_only = load_corpus(tmp_path, codes_column="icd10_diag")
    assert diagnoses_only["train"][0].codes == ["E11.9"]


def test_edin_splits_file_name_of_mimiciii_clean_is_found(tmp_path):
    parquet.write_table(pa.table({"_id": [1, 2], "text": ["a note", "b note"], "target": [["401.9"], ["38.93"]]}),
                        tmp_path / "mimiciii_clean.parquet")
    parquet.write_table(pa.table({"_id": [1, 2], "split": ["train", "test"]}),
                        tmp_path / "mimiciii_clean_splits.parquet")
    assert id_text_codes(load_corpus(tmp_path / "mimiciii_clean.parquet")) == {
        "train": [("1", "a note", ["401.9"])], "test": [("2", "b note", ["38.93"])]}


def test_plain_csv_with_own_column_names_and_separator(tmp_path):
    path = write_text(tmp_path / "notes.csv",
                      "note,body,icd,part\n"
                      'a1,"Dyspnoea, on exertion",R06.00|I50.9,train\n'
                      "a2,Cough,R05.9,validation\n")
    dataset = load_corpus(path, text_column="body", codes_column="icd", id_column="note", split_column="part",
                          label_separator="|")
    assert id_text_codes(dataset) == {"train": [("a1", "Dyspnoea, on exertion", ["R06.00", "I50.9"])],
                                      "dev": [("a2", "Cough", ["R05.9"])]}


def test_plain_csv_without_split_or_id_column_is_one_train_split_numbered_from_one(tmp_path):
    path = write_text(tmp_path / "notes.csv", "text,codes\nfirst,I10\nsecond,E11.9;I10\n")
    assert id_text_codes(load_corpus(path)) == {"train": [("1", "first", ["I10"]), ("2", "second", ["E11.9", "I10"])]}


def test_split_fractions_give_an_80_10_10_split_that_ignores_row_order(tmp_path):
    rows = [f"n{i},note number {i},I10" for i in range(20)]
    ordered = write_text(tmp_path / "ordered.csv", "id,text,codes\n" + "\n".join(rows) + "\n")
    random.Random(0).shuffle(rows)
    shuffled = write_text(tmp_path / "shuffled.csv", "id,text,codes\n" + "\n".join(rows) + "\n")

    def split_of(path: Path) -> dict[str, str]:
        dataset = load_corpus(path, split_fractions=DEFAULT_SPLIT_FRACTIONS)
        return {note.id: split for split, notes in dataset.items() for note in notes}

    assignment = split_of(ordered)
    assert sorted(assignment.values()).count("train") == 16
    assert list(assignment.values()).count("dev") == list(assignment.values()).count("test") == 2
    assert split_of(shuffled) == assignment


def test_single_jsonl_file_with_split_field_keeps_evidence(tmp_path):
    dataset = tricky_dataset()
    rows = [{**note.to_json(), "split": "val" if split == "dev" else split}
            for split, notes in dataset.items() for note in notes]
    path = write_text(tmp_path / "corpus.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    assert load_corpus(path) == dataset


def test_plain_jsonl_with_own_field_names_and_joined_codes(tmp_path):
    path = write_text(tmp_path / "notes.jsonl",
                      '{"hadm": 7, "note": "Chest pain", "labels": "R07.9;I10"}\n\n'
                      '{"hadm": 8, "note": "Fever", "labels": ["R50.9"]}\n')
    dataset = load_corpus(path, id_column="hadm", text_column="note", codes_column="labels")
    assert id_text_codes(dataset) == {"train": [("7", "Chest pain", ["R07.9", "I10"]), ("8", "Fever", ["R50.9"])]}


# ---- auto-detection --------------------------------------------------------------------------------


def test_auto_detection_names_each_format(tmp_path):
    dataset = tricky_dataset()
    write_dataset(dataset, tmp_path / "canonical")
    write_caml(dataset, tmp_path / "caml")
    write_edin(dataset, tmp_path / "edin")
    write_xcube(dataset, tmp_path / "xcube.csv")
    write_text(tmp_path / "plain.csv", "text,codes\na,I10\n")
    write_text(tmp_path / "plain.jsonl", '{"text": "a", "codes": []}\n')
    assert {name: detect_format(tmp_path / name)
            for name in ("canonical", "caml", "edin", "xcube.csv", "plain.csv", "plain.jsonl")} == {
        "canonical": "jsonl", "caml": "caml", "edin": "edin", "xcube.csv": "xcube", "plain.csv": "csv",
        "plain.jsonl": "jsonl"}


def test_auto_detection_of_an_unknown_directory_lists_what_it_found(tmp_path):
    write_text(tmp_path / "readme.txt", "hello")
    with pytest.raises(CorpusFormatError, match=r"cannot tell the corpus format.*readme\.txt"):
        load_corpus(tmp_path)


# ---- bad files: each failure names the file and, for text formats, the line ------------------------


def test_missing_column_names_the_columns_found(tmp_path):
    write_text(tmp_path / "train_full.csv", "SUBJECT_ID,HADM_ID,TEXT,length\n1,2,text,1\n")
    with pytest.raises(CorpusFormatError) as error:
        load_corpus(tmp_path)
    message = str(error.value)
    assert "train_full.csv" in message and "missing column 'LABELS'" in message
    assert "columns found: SUBJECT_ID, HADM_ID, TEXT, length" in message


def test_missing_column_suggests_a_case_insensitive_match(tmp_path):
    path = write_text(tmp_path / "notes.csv", "Text,codes\na,I10\n")
    with pytest.raises(CorpusFormatError, match=r"missing column 'text' \(did you mean 'Text'\?\)"):
        load_corpus(path)


def test_empty_text_is_reported_with_its_line_after_a_multiline_text(tmp_path):
    # The quoted text spans lines 2-4, so the empty note is on line 5, not on row 2 + header.
    write_caml_dir(tmp_path, {"train": '1,10,"line one\nline two\nline three",401.9,6\n2,11,,428.0,0\n'})
    with pytest.raises(CorpusFormatError, match=r"train_full\.csv:5: note '11' has an empty text"):
        load_corpus(tmp_path)


def test_labels_joined_with_commas_suggest_the_separator(tmp_path):
    write_caml_dir(tmp_path, {"train": '1,10,text,401.9;428.0,1\n2,11,text,"401.9,428.0",1\n'})
    with pytest.raises(CorpusFormatError) as error:
        load_corpus(tmp_path)
    message = str(error.value)
    assert "train_full.csv:3: label '401.9,428.0' contains ','" in message
    assert "label_separator=','" in message


def test_non_utf8_bytes_in_csv_give_the_line_number(tmp_path):
    (tmp_path / "train_full.csv").write_bytes(
        CAML_HEADER.encode() + b"1,10,fine,401.9,1\n2,11,also fine,401.9,2\n3,12,caf\xe9 latin-1,401.9,2\n")
    with pytest.raises(CorpusFormatError, match=r"train_full\.csv:4: not UTF-8"):
        load_corpus(tmp_path)


def test_non_utf8_bytes_in_jsonl_give_the_line_number(tmp_path):
    path = tmp_path / "notes.jsonl"
    path.write_bytes(b'{"text": "ok", "codes": []}\n{"text": "caf\xe9", "codes": []}\n')
    with pytest.raises(CorpusFormatError, match=r"notes\.jsonl:2: not UTF-8"):
        load_corpus(path)


def test_duplicate_ids_within_a_split_name_both_lines(tmp_path):
    write_caml_dir(tmp_path, {"train": "1,10,first,401.9,1\n2,11,second,401.9,1\n3,10,third,401.9,1\n"})
    with pytest.raises(CorpusFormatError,
                       match=r"train_full\.csv:4: duplicate id '10' in the train split \(first at .*train_full\.csv:2\)"):
        load_corpus(tmp_path)


def test_the_same_id_in_two_splits_is_allowed(tmp_path):
    write_caml_dir(tmp_path, {"train": "1,10,first,401.9,1\n", "test": "1,10,first,401.9,1\n"})
    assert [n.id for n in load_corpus(tmp_path)["test"]] == ["10"]


def test_duplicate_ids_in_canonical_jsonl_name_the_line(tmp_path):
    write_text(tmp_path / "train.jsonl", '{"id": "a", "text": "x"}\n\n{"id": "a", "text": "y"}\n')
    with pytest.raises(CorpusFormatError, match=r"train\.jsonl:3: duplicate id 'a'"):
        load_corpus(tmp_path)


@pytest.mark.parametrize("content, expected", [
    ("", "the file is empty"),
    (CAML_HEADER, "the file has a header .* but no notes"),
])
def test_empty_csv_files_are_reported(tmp_path, content, expected):
    write_text(tmp_path / "train_full.csv", content)
    with pytest.raises(CorpusFormatError, match=rf"train_full\.csv: {expected}"):
        load_corpus(tmp_path)


def test_empty_canonical_jsonl_file_is_reported(tmp_path):
    write_text(tmp_path / "train.jsonl", "")
    with pytest.raises(CorpusFormatError, match=r"train\.jsonl: the file is empty"):
        load_corpus(tmp_path)


def test_empty_edin_table_is_reported(tmp_path):
    feather.write_feather(pa.table({"_id": pa.array([], pa.int64()), "text": pa.array([], pa.string())}),
                          tmp_path / "empty.feather")
    with pytest.raises(CorpusFormatError, match=r"empty\.feather: the table is empty"):
        load_corpus(tmp_path)


@pytest.mark.parametrize("rows, line", [
    ("1,10,text, with comma,401.9,3\n", 2),  # pandas only warns when the first row is the long one
    ('1,10,"multi\nline",401.9,2\n2,11,fine,401.9,1\n3,12,text, with comma,401.9,3\n', 5),
])
def test_row_with_an_unquoted_comma_gives_its_line(tmp_path, rows, line):
    write_caml_dir(tmp_path, {"train": rows})
    with pytest.raises(CorpusFormatError, match=rf"train_full\.csv:{line}: more fields than the header"):
        load_corpus(tmp_path)


def test_unknown_split_value_is_reported_with_its_line(tmp_path):
    path = write_text(tmp_path / "notes.csv", "id,text,codes,split\n1,a,I10,train\n2,b,I10,holdout\n")
    with pytest.raises(CorpusFormatError, match=r"notes\.csv:3: unknown split 'holdout'"):
        load_corpus(path)


def test_xcube_file_without_split_or_is_valid_is_reported(tmp_path):
    path = write_text(tmp_path / "x.csv", "subject_id,hadm_id,text,labels\n1,2,a,401.9\n")
    with pytest.raises(CorpusFormatError, match=r"x\.csv: an xcube file needs a 'split' or an 'is_valid' column"):
        load_corpus(path, "xcube")


def test_edin_table_without_split_file_is_reported(tmp_path):
    feather.write_feather(pa.table({"_id": [1], "text": ["a"], "target": [["I10"]]}), tmp_path / "m.feather")
    with pytest.raises(CorpusFormatError, match=r"m\.feather: no split file next to it \(expected m_split\.feather"):
        load_corpus(tmp_path)


def test_jsonl_row_missing_a_field_names_line_and_fields(tmp_path):
    path = write_text(tmp_path / "n.jsonl", '{"text": "a", "codes": []}\n{"body": "b", "codes": []}\n')
    with pytest.raises(CorpusFormatError, match=r"n\.jsonl:2: missing field 'text'.*fields found: body, codes"):
        load_corpus(path)


def test_options_that_do_not_apply_are_refused(tmp_path):
    write_dataset(tricky_dataset(), tmp_path)
    with pytest.raises(ValueError, match="canonical JSONL directory"):
        load_corpus(tmp_path, text_column="body")
    with pytest.raises(ValueError, match="subset= only applies to the CAML format"):
        load_corpus(tmp_path, subset="50")
    with pytest.raises(ValueError, match="split_fractions must be three"):
        load_corpus(tmp_path / "train.jsonl", split_fractions=(0.5, 0.6, 0.1))


# ---- ICD-10-CM validation ---------------------------------------------------------------------------


def test_validate_codes_normalises_and_reports_unknown_codes_with_note_ids(tmp_path):
    path = write_text(tmp_path / "notes.csv",
                      "id,text,codes\nn1,a,e119;I10\nn2,b,Z99.99;I10\nn3,c,Z99.99\nn4,d,401.9\n")
    with pytest.raises(CorpusFormatError) as error:
        load_corpus(path, validate_codes=True)
    message = str(error.value)
    assert "2 codes are not ICD-10-CM" in message
    assert "'Z99.99' (notes n2, n3)" in message and "'401.9' (notes n4)" in message

    good = write_text(tmp_path / "good.csv", "id,text,codes\nn1,a,e119;E11.9;I10\n")
    assert load_corpus(good, validate_codes=True)["train"][0].codes == ["E11.9", "I10"]

import numpy as np

from plant_core.text import PAD_ID, UNK_ID, Tokenizer

NOTES = [
    "67 y/o M w/ HTN, T2DM c/b CKD3b; s/p CABG x3. BP 168/94. New a-fib.",
    "Pt's Na 124, HTN on lisinopril. No evidence of PNA.",
    "HTN and T2DM, h/o CVA.",
]


def test_offsets_point_at_the_original_text():
    tok = Tokenizer.train(NOTES, min_frequency=1)
    text = "72yo F h/o HTN, new A-FIB; T2DM."
    enc = tok.encode(text)
    pieces = [text[s:e] for s, e in enc.offsets]
    assert pieces == ["72yo", "F", "h/o", "HTN", "new", "A-FIB", "T2DM"]
    # Known words map to their lower-cased vocabulary entry, unseen ones to <unk>.
    assert tok.id_to_token(int(enc.ids[3])) == "htn"
    assert tok.id_to_token(int(enc.ids[5])) == "a-fib"
    assert enc.ids[0] == UNK_ID


def test_numbers_and_punctuation_are_dropped_but_shorthand_with_digits_kept():
    tok = Tokenizer.train(NOTES, min_frequency=1)
    text = "BP 168/94, Na 124. T2DM; CKD3b!!"
    tokens = [tok.id_to_token(int(i)) for i in tok.encode(text).ids]
    assert tokens == ["bp", "na", "t2dm", "ckd3b"]
    assert PAD_ID not in tok.encode(text).ids


def test_text_without_words_encodes_to_nothing():
    tok = Tokenizer.train(NOTES, min_frequency=1)
    enc = tok.encode("123 456 ... !!")
    assert enc.ids.size == 0 and enc.offsets.shape == (0, 2)


def test_save_and_load_give_the_same_encoding(tmp_path):
    tok = Tokenizer.train(NOTES, min_frequency=1)
    tok.save(tmp_path / "tokenizer.json")
    again = Tokenizer.load(tmp_path / "tokenizer.json")
    for text in NOTES:
        a, b = tok.encode(text), again.encode(text)
        np.testing.assert_array_equal(a.ids, b.ids)
        np.testing.assert_array_equal(a.offsets, b.offsets)
    assert again.vocab_size == tok.vocab_size


def test_min_frequency_keeps_rare_words_out_of_the_vocabulary():
    tok = Tokenizer.train(NOTES, min_frequency=2)
    assert tok.token_to_id("htn") != UNK_ID
    assert tok.token_to_id("lisinopril") == UNK_ID

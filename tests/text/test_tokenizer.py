"""Our tokenizer: trained with `tokenizers`, saved in Hugging Face format, loaded back identically."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from lgmcl_dgl.text.tokenizer import load_tokenizer, train_tokenizer

CORPUS = [
    "CC(=O)Nc1ccc(O)cc1",
    "CN1CCC[C@H]1c1cccnc1",
    "c1ccccc1O",
    "A small aromatic molecule bearing a hydroxyl group; moderately polar.",
    "The scaffold is a pyridine ring joined to a saturated pyrrolidine.",
] * 10


def test_trained_tokenizer_round_trips_through_its_directory(tmp_path):
    trained = train_tokenizer(CORPUS, tmp_path, vocab_size=150)
    assert (tmp_path / "tokenizer.json").is_file() and (tmp_path / "tokenizer_config.json").is_file()
    loaded = load_tokenizer(tmp_path)
    again = AutoTokenizer.from_pretrained(str(tmp_path))
    text = ["CC(=O)Nc1ccc(O)cc1 is a polar aromatic amide.", "CCO"]
    expected = trained(text, padding=True)["input_ids"]
    assert loaded(text, padding=True)["input_ids"] == expected == again(text, padding=True)["input_ids"]
    assert len(trained) <= 150
    assert trained.pad_token_id == 0  # the text encoder's pad_token_id
    ids = expected[0]
    assert ids[0] == trained.cls_token_id and ids[-1] == trained.sep_token_id
    assert expected[1][-1] == 0  # the shorter text is padded with [PAD]
    assert trained.decode(ids, skip_special_tokens=True).replace(" ", "") == text[0].replace(" ", "")


def test_unknown_characters_map_to_unk_not_an_error(tmp_path):
    tokenizer = train_tokenizer(CORPUS, tmp_path, vocab_size=120)
    ids = tokenizer("Zß")["input_ids"]
    assert tokenizer.unk_token_id in ids


def test_load_tokenizer_names_a_wrong_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="tokenizer_config.json"):
        load_tokenizer(tmp_path)

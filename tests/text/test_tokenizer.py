"""Our tokenizer: trained with `tokenizers`, saved in Hugging Face format, loaded back identically;
no SMILES character ever becomes [UNK], whatever the corpus, and the shipped one keeps its old ids."""

from __future__ import annotations

import json

import pytest
from rdkit import Chem
from tokenizers import Tokenizer
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from lgmcl_dgl.data.artifacts import Manifest
from lgmcl_dgl.data.load import load_molecules
from lgmcl_dgl.data.locations import shared_data_dir
from lgmcl_dgl.data.registry import EMBEDDED
from lgmcl_dgl.pretrained import ALPHABET_APPENDED, resolve_pretrained
from lgmcl_dgl.text.describe import describe
from lgmcl_dgl.text.tokenizer import (SMILES_ALPHABET, SPECIAL_TOKENS, load_tokenizer, missing_smiles_characters,
                                      train_tokenizer)

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
    ids = tokenizer("ß")["input_ids"]  # not a SMILES character: descriptions may still hold [UNK]
    assert tokenizer.unk_token_id in ids


def test_load_tokenizer_names_a_wrong_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="tokenizer_config.json"):
        load_tokenizer(tmp_path)


# Chirality, E/Z, charges, isotopes, two-digit ring closures, metals, salts, the wildcard, aromatic
# selenium and tellurium, [nH], deuterium, atom maps, aromatic and quadruple bonds.
EDGE_CASES = ["N[C@@H](C)C(=O)O", "C[C@H](O)CC", "F/C=C/F", "F/C=C\\F", "C[N+](C)(C)C.[Cl-]", "[O-][N+](=O)c1ccccc1",
              "[13CH4]", "C%10CCCCC%10", "[Zn+2]", "[Na+].[Cl-]", "*c1ccccc1", "c1cc[se]c1", "c1cc[te]c1", "c1cc[nH]c1",
              "[2H]C([2H])([2H])O", "C#N", "C$C", "ICC(=O)O", "[CH3:1]C", "c1:c:c:c:c:c:1", "C-C", "[Fe-4]", "[Eu+3]"]
ELEMENTS = [f"[{Chem.GetPeriodicTable().GetElementSymbol(z)}]" for z in range(1, 119)]


def unknown(tokenizer, smiles: list[str]) -> list[str]:
    return [s for s, ids in zip(smiles, tokenizer(smiles)["input_ids"]) if tokenizer.unk_token_id in ids]


def test_the_edge_cases_are_valid_smiles_and_the_alphabet_holds_their_characters():
    assert all(Chem.MolFromSmiles(s) is not None for s in EDGE_CASES + ELEMENTS)
    assert set("".join(EDGE_CASES + ELEMENTS)) <= set(SMILES_ALPHABET)


def test_a_tokenizer_trained_without_at_signs_still_knows_every_smiles_character(tmp_path):
    corpus = [text for text in CORPUS if "@" not in text]
    assert not set("@/\\IZ%*") & set("".join(corpus))
    tokenizer = train_tokenizer(corpus, tmp_path, vocab_size=150)
    assert missing_smiles_characters(tokenizer) == ""
    assert unknown(tokenizer, EDGE_CASES + ELEMENTS) == []
    assert tokenizer.convert_tokens_to_ids("@") != tokenizer.unk_token_id
    assert unknown(load_tokenizer(tmp_path), EDGE_CASES) == []


def shipped_tokenizer():
    return load_tokenizer(resolve_pretrained("zinc-small") / "tokenizer")


def shipped_tokenizer_as_trained() -> PreTrainedTokenizerFast:
    """zinc-small's tokenizer without the characters appended after training (the manifest lists them)."""
    path = resolve_pretrained("zinc-small")
    saved = json.loads((path / "tokenizer" / "tokenizer.json").read_text(encoding="utf-8"))
    for character in Manifest.read(path).extra[ALPHABET_APPENDED]:
        del saved["model"]["vocab"][character]
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(saved)), **SPECIAL_TOKENS)


def test_the_shipped_tokenizer_knows_every_smiles_character():
    tokenizer = shipped_tokenizer()
    assert missing_smiles_characters(tokenizer) == ""
    assert unknown(tokenizer, EDGE_CASES + ELEMENTS) == []


def test_the_shipped_tokenizer_keeps_its_ids_except_where_unk_stood():
    """Every text it tokenized before (BBBP's SMILES, their descriptions) keeps its ids; only the former
    [UNK]s change, to the appended characters."""
    tokenizer, as_trained = shipped_tokenizer(), shipped_tokenizer_as_trained()
    assert sorted(as_trained.get_vocab().values()) == list(range(len(as_trained)))
    smiles = load_molecules(EMBEDDED["bbbp"]).smiles
    texts = EDGE_CASES + smiles + describe(smiles[:300], backend="rdkit")
    before, after = as_trained(texts)["input_ids"], tokenizer(texts)["input_ids"]
    changed = 0
    for old, new in zip(before, after):
        assert len(old) == len(new)
        for old_id, new_id in zip(old, new):
            assert new_id == old_id or (old_id == as_trained.unk_token_id and new_id >= len(as_trained))
        changed += old != new
    assert len(unknown(as_trained, smiles)) > 0.3 * len(smiles)  # 35% of BBBP held an [UNK] before
    assert changed >= len(unknown(as_trained, smiles)) and unknown(tokenizer, smiles) == []


@pytest.fixture(scope="module")
def moleculenet_smiles() -> list[str]:
    """Every valid SMILES of every file in the shared moleculenet/ folder."""
    shared = shared_data_dir()
    if shared is None:
        pytest.skip("no shared data (../shared/data or $LGMCL_SHARED_DATA) holding moleculenet/")
    files = sorted(p for p in (shared / "moleculenet").iterdir() if p.is_file())
    return [s for path in files for s in load_molecules(path).smiles]


@pytest.mark.parametrize("which", ["trained on a tiny corpus", "shipped zinc-small"])
def test_no_moleculenet_smiles_holds_an_unknown_token(tmp_path, moleculenet_smiles, which):
    tokenizer = train_tokenizer(CORPUS, tmp_path, vocab_size=150) if which.startswith("trained") else shipped_tokenizer()
    assert len(moleculenet_smiles) > 20000
    assert unknown(tokenizer, moleculenet_smiles) == []

"""A tokenizer for SMILES and descriptions, trained by us with the `tokenizers` library when no
pretrained one is given, and saved in Hugging Face format so `AutoTokenizer` can load it too."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from lgmcl_dgl.data.artifacts import atomic_write_text

SPECIAL_TOKENS = {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]", "mask_token": "[MASK]"}
#: Every letter of the 118 element symbols (aromatic forms such as `se` included), ring-closure digits and `%`,
#: bonds, branches, brackets, chirality, charges, `.` and the wildcard `*`: a valid SMILES holds no other character.
SMILES_ALPHABET = "ABCDEFGHIKLMNOPRSTUVWXYZabcdefghiklmnoprstuvy0123456789%-=#$:/\\()[]@+.*"
TOKENIZER_FILE = "tokenizer.json"


def train_tokenizer(
    texts: Iterable[str], out_dir: str | os.PathLike, vocab_size: int = 2048, model_max_length: int = 256,
    alphabet: str = SMILES_ALPHABET,
) -> PreTrainedTokenizerFast:
    """Byte-pair encoding over whitespace-split words (SMILES stay one word, split into learned
    chemical pieces); [PAD] is id 0 to match the text encoder's pad_token_id. Every character of
    `alphabet` is a token even if the corpus lacks it, so no SMILES character becomes [UNK]."""
    tokenizer = Tokenizer(models.BPE(unk_token=SPECIAL_TOKENS["unk_token"]))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS.values()),
                                  initial_alphabet=list(alphabet), show_progress=False)
    tokenizer.train_from_iterator(texts, trainer=trainer)
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
    )
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tokenizer, model_max_length=model_max_length, **SPECIAL_TOKENS)
    wrapped.save_pretrained(str(out_dir))
    return wrapped


def load_tokenizer(path: str | os.PathLike) -> PreTrainedTokenizerBase:
    """A tokenizer saved by `train_tokenizer`, or any local path / Hugging Face id AutoTokenizer knows."""
    if Path(path).is_dir() and not (Path(path) / "tokenizer_config.json").is_file():
        raise FileNotFoundError(f"{path}: no tokenizer_config.json; not a saved tokenizer directory")
    return AutoTokenizer.from_pretrained(str(path))


def missing_smiles_characters(tokenizer: PreTrainedTokenizerBase) -> str:
    """The characters of SMILES_ALPHABET that `tokenizer` would turn into [UNK] (tokenizers trained
    before the alphabet was given to the trainer lack some, e.g. `@` when their corpus had none)."""
    vocabulary = tokenizer.get_vocab()
    return "".join(c for c in SMILES_ALPHABET if c not in vocabulary)


def append_characters(tokenizer_dir: str | os.PathLike, characters: str) -> None:
    """Append `characters` to a saved BPE tokenizer's vocabulary, with ids after every existing one
    and no merges: each text tokenizes to the same ids as before except that these characters no
    longer become [UNK]. Rewrites tokenizer.json atomically."""
    path = Path(tokenizer_dir) / TOKENIZER_FILE
    saved = json.loads(path.read_text(encoding="utf-8"))
    if saved["model"]["type"] != "BPE":
        raise ValueError(f"{path}: a {saved['model']['type']} tokenizer; only BPE vocabularies can be extended here")
    vocabulary = saved["model"]["vocab"]
    present = [c for c in characters if c in vocabulary]
    if present:
        raise ValueError(f"{path}: already holds {''.join(present)!r}")
    next_id = 1 + max([*vocabulary.values(), *(token["id"] for token in saved["added_tokens"])])
    vocabulary.update({character: next_id + i for i, character in enumerate(characters)})
    atomic_write_text(path, json.dumps(saved, ensure_ascii=False, indent=2))

"""A tokenizer for SMILES and descriptions, trained by us with the `tokenizers` library when no
pretrained one is given, and saved in Hugging Face format so `AutoTokenizer` can load it too."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

SPECIAL_TOKENS = {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]", "mask_token": "[MASK]"}


def train_tokenizer(
    texts: Iterable[str], out_dir: str | os.PathLike, vocab_size: int = 2048, model_max_length: int = 256
) -> PreTrainedTokenizerFast:
    """Byte-pair encoding over whitespace-split words (SMILES stay one word, split into learned
    chemical pieces); [PAD] is id 0 to match the text encoder's pad_token_id."""
    tokenizer = Tokenizer(models.BPE(unk_token=SPECIAL_TOKENS["unk_token"]))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS.values()), show_progress=False)
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

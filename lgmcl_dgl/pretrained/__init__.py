"""Pretrained models shipped with the package, each a directory named after what it was trained on."""

from __future__ import annotations

import os
from pathlib import Path

SHIPPED_DIR = Path(__file__).parent
#: The manifest key that lists the characters `add_smiles_alphabet` appended to a tokenizer, in id order.
ALPHABET_APPENDED = "smiles_alphabet_appended"


def shipped_names() -> list[str]:
    return sorted(p.name for p in SHIPPED_DIR.iterdir() if (p / "model_config.json").is_file())


def resolve_pretrained(name_or_dir: str | os.PathLike) -> Path:
    """A shipped name (``zinc-small``) or a pretrain output directory -> the directory holding the model."""
    path = Path(name_or_dir)
    if path.is_dir():
        if not (path / "model_config.json").is_file():
            raise FileNotFoundError(f"{path}: no model_config.json; not a finished pretrain output directory")
        return path
    shipped = SHIPPED_DIR / str(name_or_dir)
    if str(name_or_dir) in shipped_names():
        return shipped
    raise FileNotFoundError(f"{name_or_dir}: not a directory and not a shipped pretrained model "
                            f"({', '.join(shipped_names()) or 'none shipped'})")


def add_smiles_alphabet(name_or_dir: str | os.PathLike) -> str:
    """Give a pretrained model every SMILES character its tokenizer lacks, without retraining: the
    characters are appended to the vocabulary (existing ids unchanged) and the text encoders get as
    many token rows, copies of the [UNK] row, so every output stays what it was until fine-tuning
    learns them. Rewrites the weights, model_config.json, tokenizer.json, then the manifest; returns
    the characters appended ("" when none were missing). For finished outputs: a pretrain resumed
    from its checkpoints afterwards would not fit the new vocabulary."""
    from lgmcl_dgl.data.artifacts import Manifest, sha256_file
    from lgmcl_dgl.models.io import load_model, save_model
    from lgmcl_dgl.pretrain import TOKENIZER_DIR
    from lgmcl_dgl.text.tokenizer import append_characters, load_tokenizer, missing_smiles_characters

    directory = resolve_pretrained(name_or_dir)
    tokenizer_dir = directory / TOKENIZER_DIR
    if not tokenizer_dir.is_dir():  # pretrained on graph objectives only
        return ""
    tokenizer = load_tokenizer(tokenizer_dir)
    missing = missing_smiles_characters(tokenizer)
    if not missing:
        return ""
    size = len(tokenizer) + len(missing)
    model = load_model(directory)
    for encoder in (model.text_encoder, model.description_encoder):
        if encoder is not None:
            encoder.grow_vocabulary(size, tokenizer.unk_token_id)
    model.config.text.vocab_size = size
    save_model(directory, model)
    append_characters(tokenizer_dir, missing)
    manifest = Manifest.read(directory)
    manifest.extra[ALPHABET_APPENDED] = manifest.extra.get(ALPHABET_APPENDED, "") + missing
    if "files" in manifest.extra:
        manifest.extra["files"] = {name: sha256_file(directory / name) for name in manifest.extra["files"]}
    manifest.write(directory)
    return missing

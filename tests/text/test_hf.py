"""The hf backend with tiny causal LMs built here (no download): one untrained, one that learned one answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tokenizers import ByteLevelBPETokenizer
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from lgmcl_dgl.data.artifacts import Manifest
from lgmcl_dgl.text.augment import AugmentConfig, augment, load_descriptions, prepare_molecule
from lgmcl_dgl.text.backends.hf import HFBackend, HFConfig
from lgmcl_dgl.text.describe import render

ETHYLAMINE = "CCN"
ANSWER = {"basic_identity": {"core_scaffold": "acyclic"},
          "physicochemical_profile": {k: "small" for k in ("size", "lipophilicity", "polarity", "hydrogen_bonding",
                                                           "flexibility", "charge_state")},
          "structural_features": {k: "amine" for k in ("rings_and_aromaticity", "key_functional_groups",
                                                       "substitution_pattern", "stereochemistry")},
          "general_medicinal_chemistry_notes": ["A small amine."]}


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Two threads on a shared 2-core machine spin against each other: ten times slower here."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _prompt(smiles: str) -> str:
    probe = HFBackend.__new__(HFBackend)
    probe.tokenizer = type("NoTemplate", (), {"chat_template": None})()
    return probe.prompt(prepare_molecule(0, smiles, with_rdkit=False))


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> tuple[Path, int]:
    """A 1-layer GPT-2 built here whose greedy answer to ethylamine's prompt is ``ANSWER``.

    Attention and MLP outputs are zeroed and token embeddings are 0, so the hidden state at position p is
    the position embedding p: set to a one-hot of the answer token due after p, read out by an identity
    LM head. Returns the model directory and the answer's length in tokens (with the end token).
    The model only knows what to say at the positions that follow ethylamine's prompt, so for
    any other molecule its answer is a fragment that must be rejected.
    """
    directory = tmp_path_factory.mktemp("tiny_lm")
    prompt, answer = _prompt(ETHYLAMINE), json.dumps(ANSWER)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator([prompt, answer, _prompt("CC(=O)O")], vocab_size=400, min_frequency=1,
                            special_tokens=["<eos>"])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, eos_token="<eos>", pad_token="<eos>")
    tokenizer.save_pretrained(directory)
    prompt_ids, answer_ids = tokenizer(prompt)["input_ids"], tokenizer(answer)["input_ids"]
    assert tokenizer.decode(answer_ids) == answer
    vocab = len(tokenizer)
    config = GPT2Config(vocab_size=vocab, n_positions=len(prompt_ids) + len(answer_ids) + 64, n_embd=vocab,
                        n_layer=1, n_head=1, bos_token_id=0, eos_token_id=0, tie_word_embeddings=False)
    model = GPT2LMHeadModel(config)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        model.transformer.ln_f.weight.fill_(1.0)
        model.lm_head.weight.copy_(torch.eye(vocab))
        for i, token in enumerate(answer_ids + [tokenizer.eos_token_id]):
            model.transformer.wpe.weight[len(prompt_ids) - 1 + i, token] = 1.0
    model.save_pretrained(directory)
    return directory, len(answer_ids) + 1


def test_answer_is_validated_rendered_and_cached(tiny_model, tmp_path):
    path = tmp_path / "one.smi"
    path.write_text(ETHYLAMINE + "\n")
    directory, n_tokens = tiny_model
    options = {"model": str(directory), "max_new_tokens": n_tokens, "temperature": 0.0,
               "cache": str(tmp_path / "c.sqlite")}
    out = augment(path, tmp_path / "aug", AugmentConfig(backend="hf", options=options, progress=False))
    record = load_descriptions(out)[0]
    assert record.description == render(ANSWER) and record.backend == "hf" and not record.fallback
    backend = HFBackend(HFConfig(**options))
    try:
        [(_, outcome)] = list(backend.run([prepare_molecule(0, "NCC", with_rdkit=False)]))  # same molecule
    finally:
        backend.close()
    assert outcome.cached and outcome.description == render(ANSWER)


def test_invalid_answers_are_reported_and_fall_back(tiny_model, tmp_path):
    path = tmp_path / "two.smi"
    path.write_text("CCN\nCC(=O)O\n")
    directory, n_tokens = tiny_model
    options = {"model": str(directory), "max_new_tokens": n_tokens, "temperature": 0.0, "batch_size": 2,
               "cache": str(tmp_path / "c.sqlite")}
    config = AugmentConfig(backend="hf", options=options, fallback="rdkit", progress=False)
    records = load_descriptions(augment(path, tmp_path / "aug", config))
    # batched with left padding, ethylamine's answer is intact; acetic acid's fragment is rejected
    assert records[0].description == render(ANSWER) and not records[0].fallback
    assert records[1].fallback and records[1].description.startswith("Core scaffold: acyclic")
    report = Manifest.read(tmp_path / "aug").extra["report"]
    assert report["fallback"] == 1 and list(report["failure_reasons"])[0].startswith("invalid answer")

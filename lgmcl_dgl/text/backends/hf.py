"""The hf backend: a local transformers causal LM (path or hub id), batched generation, same prompt.

Answers are validated against the schema and cached like the openai backend's. The chat template
is used when the tokenizer has one (a template without a system role gets the system text folded
into the user turn); otherwise the prompt is plain text ending in "JSON:".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING

from lgmcl_dgl.text.backends import (PROMPT_VERSION, DescriptionCache, Outcome, build_messages, cached_outcome,
                                     default_cache_path)
from lgmcl_dgl.text.describe import DescriptionError, parse_answer, render

if TYPE_CHECKING:
    from lgmcl_dgl.text.augment import PreparedMolecule


@dataclass
class HFConfig:
    model: str = ""  # local directory or hub id
    batch_size: int = 8
    max_new_tokens: int = 768
    temperature: float = 0.2  # 0 = greedy
    seed: int = 0
    device: str | None = None  # default: cuda when available
    cache: str | None = None  # SQLite file; default: the lgmcl cache directory

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("--backend hf needs --model (a local directory or a hub id)")
        if self.batch_size < 1 or self.max_new_tokens < 1:
            raise ValueError("--batch-size and --max-new-tokens must be >= 1")


class HFBackend:
    name = "hf"
    prompt_version = PROMPT_VERSION

    def __init__(self, config: HFConfig):
        import torch
        import transformers
        from packaging.version import Version
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.config = config
        self.model = config.model
        self.device = config.device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(config.model)
        self.tokenizer.padding_side = "left"  # generation continues from the right end of every row
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        # the checkpoint's own dtype (bf16 for most instruct models), not float32 at twice the memory
        dtype_name = "dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype"
        self.lm = AutoModelForCausalLM.from_pretrained(config.model, **{dtype_name: "auto"}).to(self.device).eval()
        self.cache = DescriptionCache(config.cache or default_cache_path())
        self._batches = 0

    def prompt(self, molecule: "PreparedMolecule") -> str:
        messages = build_messages(molecule.canonical, molecule.descriptors)
        if not self.tokenizer.chat_template:
            return "\n\n".join(m["content"] for m in messages) + "\n\nJSON:\n"
        try:
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        except Exception:  # jinja raises TemplateError for templates that reject a system turn
            merged = [{"role": "user", "content": messages[0]["content"] + "\n\n" + messages[1]["content"]}]
            return self.tokenizer.apply_chat_template(merged, tokenize=False, add_generation_prompt=True)

    def run(self, molecules: Iterable["PreparedMolecule"]) -> Iterator[tuple["PreparedMolecule", Outcome]]:
        misses: list["PreparedMolecule"] = []
        iterator = iter(molecules)
        while batch := list(islice(iterator, self.config.batch_size)):
            for molecule in batch:
                hit = cached_outcome(self.cache, self.model, molecule.canonical)
                if hit is None:
                    misses.append(molecule)
                else:
                    yield molecule, hit
            if len(misses) >= self.config.batch_size:
                yield from self._generate(misses[:self.config.batch_size])
                misses = misses[self.config.batch_size:]
        while misses:
            yield from self._generate(misses[:self.config.batch_size])
            misses = misses[self.config.batch_size:]

    def _generate(self, batch: list["PreparedMolecule"]) -> Iterator[tuple["PreparedMolecule", Outcome]]:
        import torch

        encoded = self.tokenizer([self.prompt(m) for m in batch], return_tensors="pt", padding=True,
                                 add_special_tokens=not self.tokenizer.chat_template).to(self.device)
        sample = self.config.temperature > 0
        torch.manual_seed(self.config.seed + self._batches)
        self._batches += 1
        with torch.inference_mode():
            output = self.lm.generate(**encoded, max_new_tokens=self.config.max_new_tokens, do_sample=sample,
                                      temperature=self.config.temperature if sample else None, top_p=None, top_k=None,
                                      pad_token_id=self.tokenizer.pad_token_id)
        answers = self.tokenizer.batch_decode(output[:, encoded["input_ids"].shape[1]:], skip_special_tokens=True)
        for molecule, answer in zip(batch, answers):
            try:
                fields = parse_answer(answer)
            except DescriptionError as exc:
                yield molecule, Outcome(None, error=f"invalid answer: {exc}")
                continue
            self.cache.put(self.model, self.prompt_version, molecule.canonical, fields)
            yield molecule, Outcome(render(fields))

    def close(self) -> None:
        self.cache.close()

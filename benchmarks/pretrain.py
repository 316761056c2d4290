"""Where does a pretraining step's time go, how many molecules/s, and how much memory, per preset?

For each preset, a fresh process (so peak memory is that preset's) builds the model and times
optimiser steps of the full pretraining objective (graph + text + cross NT-Xent) on real MOSES
molecules with rdkit descriptions, then times each part on the same batch in isolation:
data loading (collate + padding), graph encoders (local + global, forward+backward), text encoder
(SMILES + description, forward+backward), loss (projections + three NT-Xent, forward+backward).
Peak memory: resident set size on CPU, the CUDA allocator's peak on a GPU.

    PYTHONPATH=. python benchmarks/pretrain.py --presets small,paper --batch-size 32 --steps 3
    PYTHONPATH=. python benchmarks/pretrain.py --device cuda --presets small,paper --batch-size 128

``--retrieval MODEL`` instead measures a pretrained model (a name or directory): graph -> text top-1
retrieval among the 1,000 MOSES molecules ``zinc_split`` holds out of the zinc-small corpus.
``--write-split DIR`` writes that corpus split (zinc_80k.csv, zinc_heldout_1k.csv).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import RESULTS, machine, moses_smiles, output_dir


def measure(preset: str, batch_size: int, steps: int, device_name: str, max_length: int | None) -> dict:
    import numpy as np
    import torch

    from lgmcl_dgl.featurize.pipeline import FeaturizeConfig, featurize_smiles
    from lgmcl_dgl.models.config import load_preset
    from lgmcl_dgl.models.lgmcl import LGMCL
    from lgmcl_dgl.pretrain import ContrastiveStep, PretrainConfig, PretrainDataset, TokenArrays, _encode
    from lgmcl_dgl.text.augment import rdkit_description
    from lgmcl_dgl.text.tokenizer import train_tokenizer
    from lgmcl_dgl.train.logging import peak_memory_mb
    from lgmcl_dgl.train.losses import nt_xent

    device = torch.device(device_name)
    smiles = moses_smiles(batch_size)
    records = featurize_smiles(smiles, FeaturizeConfig(fingerprints=("maccs",)))
    descriptions = [rdkit_description(s) for s in smiles]
    overrides = {"node_feat_dim": records[0].node_feats.shape[1], "edge_feat_dim": records[0].bond_feats.shape[1]}
    if max_length:
        overrides["text.max_length"] = max_length
    config = load_preset(preset, overrides)
    with tempfile.TemporaryDirectory() as folder:  # our BPE vocabulary at the preset's size
        tokenizer = train_tokenizer(smiles + descriptions, folder, min(config.text.vocab_size, 4096), config.text.max_length)
    config.text.vocab_size, config.text.pad_token_id = len(tokenizer), tokenizer.pad_token_id
    texts = TokenArrays(_encode(tokenizer, smiles, config.text.max_length)[:, None, :],
                        _encode(tokenizer, descriptions, config.text.max_length), tokenizer.pad_token_id)
    dataset = PretrainDataset(records, texts)
    torch.manual_seed(0)
    model = LGMCL(config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    step = ContrastiveStep(PretrainConfig())

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def timed(fn, repeats: int) -> float:
        fn()  # warm-up
        sync()
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        sync()
        return (time.perf_counter() - start) / repeats

    def load():
        return dataset.collate([dataset[i] for i in range(len(dataset))]).to(device)

    batch = load()

    def full_step():
        losses = step(model, load())
        losses["loss"].backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def graph_part():
        local, global_ = model.encode_graph(batch.graphs.graph)
        (local.sum() + global_.sum()).backward()

    def text_part():
        (model.encode_text(batch.smiles_ids, batch.smiles_mask).sum()
         + model.encode_text(batch.desc_ids, batch.desc_mask).sum()).backward()

    with torch.no_grad():
        local, global_ = model.encode_graph(batch.graphs.graph)
        smiles_vec = model.encode_text(batch.smiles_ids, batch.smiles_mask)
        desc_vec = model.encode_text(batch.desc_ids, batch.desc_mask)
    leaves = [t.detach().requires_grad_() for t in (local, global_, smiles_vec, desc_vec)]

    def loss_part():
        views = {name: model.projections[name](t) for name, t in zip(("local", "global", "smiles", "description"), leaves)}
        from lgmcl_dgl.pretrain import graph_vector, text_vector

        (nt_xent(views["local"], views["global"]) + nt_xent(views["smiles"], views["description"])
         + nt_xent(graph_vector(views), text_vector(views))).backward()

    step_seconds = timed(full_step, steps)
    parts = {"data_loading": timed(load, steps), "graph_encoders": timed(graph_part, steps),
             "text_encoder": timed(text_part, steps), "loss": timed(loss_part, steps)}
    model.zero_grad(set_to_none=True)
    return {"preset": preset, "device": str(device), "batch_size": batch_size,
            "parameters": sum(p.numel() for p in model.parameters()),
            "text_max_length": config.text.max_length,
            "description_tokens_mean": float(np.mean((texts.descriptions != tokenizer.pad_token_id).sum(1))),
            "step_seconds": step_seconds, "molecules_per_second": batch_size / step_seconds,
            "part_seconds": parts, "peak_memory_mb": peak_memory_mb(device),
            "torch_threads": torch.get_num_threads()}


def run_presets(presets: list[str], batch_size: int, steps: int, device: str, max_length: int | None) -> list[dict]:
    """``measure`` for each preset in a fresh process of this script, so each peak memory is that preset's alone."""
    rows = []
    for preset in presets:
        command = [sys.executable, __file__, "--one", preset, "--batch-size", str(batch_size),
                   "--steps", str(steps), "--device", device]
        if max_length:
            command += ["--max-length", str(max_length)]
        done = subprocess.run(command, capture_output=True, text=True, env=os.environ)
        if done.returncode:
            raise SystemExit(f"{preset}: {done.stderr[-2000:]}")
        row = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(row)
        parts = ", ".join(f"{k} {v:.3f}s" for k, v in row["part_seconds"].items())
        print(f"{preset}: {row['molecules_per_second']:.1f} mol/s, step {row['step_seconds']:.2f}s ({parts}), "
              f"peak {row['peak_memory_mb']:.0f} MB, {row['parameters'] / 1e6:.1f}M parameters", flush=True)
    return rows


def zinc_split(n_heldout: int = 1000, n_train: int = 80_000) -> tuple[list[str], list[str]]:
    """The zinc-small corpus: MOSES test + test-scaffolds, deduplicated, permuted with seed 0."""
    import numpy as np
    import pandas as pd

    from lgmcl_dgl.data.locations import shared_data_dir

    frames = [pd.read_csv(shared_data_dir() / "pretrain" / f"{name}.csv.gz") for name in ("moses_test", "moses_test_scaffolds")]
    smiles = pd.concat(frames)["SMILES"].drop_duplicates().tolist()
    order = np.random.default_rng(0).permutation(len(smiles))
    return [smiles[i] for i in order[n_heldout:n_heldout + n_train]], [smiles[i] for i in order[:n_heldout]]


def retrieval(model_name: str) -> dict:
    """Top-1 graph -> text retrieval of a pretrained model on the held-out molecules, and of the same
    architecture untrained (what the pretraining added beyond chance)."""
    import torch

    from lgmcl_dgl.featurize.pipeline import FeaturizeConfig, featurize_smiles
    from lgmcl_dgl.models.io import load_model
    from lgmcl_dgl.models.lgmcl import LGMCL
    from lgmcl_dgl.pretrain import resolve_pretrained, retrieval_accuracy
    from lgmcl_dgl.text.augment import rdkit_description
    from lgmcl_dgl.text.tokenizer import load_tokenizer

    directory = resolve_pretrained(model_name)
    _, heldout = zinc_split()
    records = featurize_smiles(heldout, FeaturizeConfig(fingerprints=("maccs",)))
    descriptions = [rdkit_description(s) for s in heldout]
    tokenizer = load_tokenizer(directory / "tokenizer")
    model = load_model(directory)
    torch.manual_seed(0)
    untrained = LGMCL(model.config)
    return {"model": str(model_name), "pretrained": retrieval_accuracy(model, tokenizer, records, descriptions),
            "untrained": retrieval_accuracy(untrained, tokenizer, records, descriptions)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="small,paper")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3, help="timed repeats of each measurement (after one warm-up)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--max-length", type=int, default=None, help="override text.max_length (tokens)")
    parser.add_argument("--retrieval", metavar="MODEL", help="measure held-out retrieval of a pretrained model")
    parser.add_argument("--write-split", metavar="DIR", help="write the zinc-small corpus split as CSV files")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one preset, print JSON
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder of the JSON and Markdown results")
    args = parser.parse_args()
    if args.write_split:
        import pandas as pd

        train, heldout = zinc_split()
        Path(args.write_split).mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"smiles": train}).to_csv(Path(args.write_split) / "zinc_80k.csv", index=False)
        pd.DataFrame({"smiles": heldout}).to_csv(Path(args.write_split) / "zinc_heldout_1k.csv", index=False)
        return
    if args.retrieval:
        result = retrieval(args.retrieval)
        print(json.dumps(result, indent=2))
        (output_dir(args.out) / f"retrieval_{Path(args.retrieval).name}.json").write_text(json.dumps(result, indent=2) + "\n")
        return
    if args.one:
        print(json.dumps(measure(args.one, args.batch_size, args.steps, args.device, args.max_length)))
        return
    rows = run_presets(args.presets.split(","), args.batch_size, args.steps, args.device, args.max_length)
    tag = f"{args.device.split(':')[0]}_b{args.batch_size}" + (f"_L{args.max_length}" if args.max_length else "")
    out = output_dir(args.out)
    (out / f"pretrain_{tag}.json").write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2) + "\n")
    lines = ["| preset | device | batch | text tokens (max) | mol/s | step s | data s | graph s | text s | loss s | peak MB | params |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        p = r["part_seconds"]
        lines.append(f"| {r['preset']} | {r['device']} | {r['batch_size']} | {r['description_tokens_mean']:.0f} "
                     f"({r['text_max_length']}) | {r['molecules_per_second']:.1f} | {r['step_seconds']:.2f} | "
                     f"{p['data_loading']:.3f} | {p['graph_encoders']:.3f} | {p['text_encoder']:.3f} | {p['loss']:.3f} | "
                     f"{r['peak_memory_mb']:.0f} | {r['parameters'] / 1e6:.1f}M |")
    (out / f"pretrain_{tag}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

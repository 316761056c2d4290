"""Model parts: parameter counts of the presets, CPU forward+backward time per batch of 64 BBBP
molecules for each part, and the global encoder's dense padded attention against a DGL sparse
version and dgl.nn.GraphormerLayer, and the global encoder's structure biases (and whole steps) now
against the matmul search of shortest paths at every step, and the global encoder's time and peak
memory by molecule size (BBBP, ToxCast's largest, one 492-atom peptide) before and now.

    python benchmarks/models.py                    # small preset timings, both presets' counts
    python benchmarks/models.py --presets small paper --batches 2
    python benchmarks/models.py --out /tmp/models   # results elsewhere than benchmarks/results/models

Graphs and fingerprints come from lgmcl_dgl.featurize (AttentiveFP features), as in fine-tuning.
Texts: BBBP SMILES and stand-in descriptions of about 1,100 characters (the paper's length, built
from RDKit descriptors), tokenized by a tokenizer trained here. Writes models.json + models.md.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from pathlib import Path

import dgl
import dgl.sparse as dglsp
import numpy as np
import torch
from rdkit import Chem
from rdkit.Chem import Crippen, Descriptors, Lipinski, rdMolDescriptors
from torch import nn

from lgmcl_dgl.data.artifacts import atomic_write_json, atomic_write_text
from lgmcl_dgl.data.load import load_molecules
from lgmcl_dgl.data.locations import shared_data_dir
from lgmcl_dgl.featurize.dataset import collate
from lgmcl_dgl.featurize.distances import hop_distances
from lgmcl_dgl.featurize.graphs import feature_dims
from lgmcl_dgl.featurize.pipeline import FeaturizeConfig, featurize_smiles
from lgmcl_dgl.models.config import load_preset
from lgmcl_dgl.models.global_ import GlobalEncoder, GraphTransformerLayer, key_padding_bias
from lgmcl_dgl.models.fusion import Tokens
from lgmcl_dgl.models.lgmcl import LGMCL
from lgmcl_dgl.models.local import edge_features
from lgmcl_dgl.models.padding import AtomLayout
from lgmcl_dgl.text.tokenizer import train_tokenizer
from lgmcl_dgl.train.losses import masked_bce, nt_xent

BATCH = 64
M_MMAP_THRESHOLD = -3  # glibc mallopt parameter


def stand_in_description(smiles: str) -> str:
    mol = Chem.MolFromSmiles(smiles)
    facts = (
        f"The molecule has a molecular weight of {Descriptors.MolWt(mol):.1f} Da, a Crippen logP of {Crippen.MolLogP(mol):.2f} "
        f"and a topological polar surface area of {rdMolDescriptors.CalcTPSA(mol):.1f} square angstroms. It carries "
        f"{Lipinski.NumHDonors(mol)} hydrogen-bond donors, {Lipinski.NumHAcceptors(mol)} acceptors, "
        f"{Lipinski.NumRotatableBonds(mol)} rotatable bonds, a formal charge of {Chem.GetFormalCharge(mol)} and "
        f"{rdMolDescriptors.CalcNumAromaticRings(mol)} aromatic rings. "
    )
    notes = (
        "Its size and polarity place it among typical small organic molecules; the balance between lipophilic "
        "and polar surface governs solubility and membrane permeation. The functional groups present offer "
        "hydrogen-bonding handles, and the ring system defines a fairly rigid core with substituents around it. "
    )
    return (facts + notes * 4)[:1100]


def timed(step: Callable[[int], torch.Tensor], batches: int, repeats: int) -> dict[str, float]:
    """Median wall and CPU (all threads) milliseconds of forward + backward over the batches, after
    one warm-up pass. CPU time is the steadier figure on a shared machine."""
    step(0).backward()
    wall, cpu = [], []
    for _ in range(repeats):
        for i in range(batches):
            start, start_cpu = time.perf_counter(), time.process_time()
            step(i).backward()
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
    return {"wall_ms": round(1000 * statistics.median(wall), 1), "cpu_ms": round(1000 * statistics.median(cpu), 1)}


class SparseGraphTransformerLayer(nn.Module):
    """The same layer computed with DGL sparse matrices over the within-molecule atom pairs."""

    def __init__(self, dense: GraphTransformerLayer):
        super().__init__()
        self.dense = dense

    def forward(self, atoms: torch.Tensor, pairs: dglsp.SparseMatrix, bias: torch.Tensor) -> torch.Tensor:
        layer = self.dense
        n, width = atoms.shape
        q, k, v = layer.qkv(layer.attn_norm(atoms)).view(n, 3, layer.heads, layer.head_dim).permute(1, 0, 3, 2)
        scores = dglsp.bsddmm(pairs, q / layer.head_dim**0.5, k.transpose(0, 1))
        weights = dglsp.val_like(scores, scores.val + bias).softmax()
        mixed = dglsp.bspmm(weights, v).transpose(1, 2).reshape(n, width)
        atoms = atoms + layer.attn_out(mixed)
        return atoms + layer.ffn(layer.ffn_norm(atoms))


def sparse_pairs(layout: AtomLayout, counts: torch.Tensor) -> tuple[dglsp.SparseMatrix, tuple[torch.Tensor, ...]]:
    molecule, i, j = (layout.mask[:, :, None] & layout.mask[:, None, :]).nonzero(as_tuple=True)
    starts = torch.cumsum(counts, 0) - counts
    rows, cols = starts[molecule] + i, starts[molecule] + j
    return dglsp.spmatrix(torch.stack([rows, cols]), shape=(int(counts.sum()),) * 2), (molecule, i, j)


def attention_layouts(model: LGMCL, graphs: list[dgl.DGLGraph], batches: int, repeats: int) -> dict[str, float]:
    """One Graph Transformer layer, forward + backward: padded dense vs DGL sparse vs GraphormerLayer."""
    encoder = model.global_
    layer = encoder.layers[0]
    config = encoder.config
    graphormer = dgl.nn.GraphormerLayer(config.d_model, config.ffn_dim, config.heads, norm_first=True, dropout=config.dropout, attn_dropout=config.attn_dropout)
    sparse = SparseGraphTransformerLayer(layer)
    prepared = []
    for graph in graphs[:batches]:
        layout = AtomLayout.of(graph)
        with torch.no_grad():
            bias, adjacency = encoder.structure(graph, layout)
            bias = bias.expand(-1, config.heads, layout.mask.shape[1], layout.mask.shape[1])  # full (B, H, N, N)
            atoms = encoder.embed(graph.ndata["h"])
        pairs, index = sparse_pairs(layout, graph.batch_num_nodes())
        prepared.append((layout, atoms, bias, adjacency, pairs, index))

    def dense_step(i):
        layout, atoms, bias, adjacency, *_ = prepared[i]
        return layer(atoms.requires_grad_(), layout, bias, adjacency).sum()

    def sparse_step(i):
        layout, atoms, bias, _, pairs, (molecule, a, b) = prepared[i]
        return sparse(atoms.requires_grad_(), pairs, bias.permute(0, 2, 3, 1)[molecule, a, b]).sum()

    def graphormer_step(i):
        layout, atoms, bias, *_ = prepared[i]
        return graphormer(layout.pad(atoms.requires_grad_()), bias.permute(0, 2, 3, 1), attn_mask=~layout.mask[:, None, :].expand(-1, layout.mask.shape[1], -1)).sum()

    layer.eval(), graphormer.eval()  # no dropout: the sparse version has none
    with torch.no_grad():  # both layouts compute the same function
        layout, atoms, bias, adjacency, pairs, (molecule, a, b) = prepared[0]
        dense_out = layer(atoms, layout, bias, adjacency)
        if not config.lambda_adj:
            torch.testing.assert_close(sparse(atoms, pairs, bias.permute(0, 2, 3, 1)[molecule, a, b]), dense_out, rtol=1e-4, atol=1e-4)
    return {
        "dense_padded": timed(dense_step, batches, repeats),
        "dgl_sparse": timed(sparse_step, batches, repeats),
        "dgl_graphormer_layer": timed(graphormer_step, batches, repeats),
    }


def matmul_shortest_path_distances(edges: tuple[torch.Tensor, ...], batch: int, n: int, max_distance: int) -> torch.Tensor:
    """The baseline's shortest paths, searched at every step: one batched (B, N, N) matmul per hop."""
    molecule, source, target = edges
    eye = torch.eye(n, device=molecule.device)
    step = eye.repeat(batch, 1, 1)
    step[molecule, source, target] = 1.0  # one hop, or staying put
    reached = eye.expand(batch, n, n)  # within 0 hops
    within = reached.clone()  # per pair, for how many k so far it was within k hops
    for hops in range(1, max_distance + 1):
        grown = torch.bmm(reached, step).clamp_(max=1.0).float()
        if torch.equal(grown, reached):
            within.add_(grown, alpha=max_distance + 1 - hops)
            break
        within.add_(grown)
        reached = grown
    return (max_distance + 1 - within).long()


def matmul_structure(self: GlobalEncoder, graph: dgl.DGLGraph, layout: AtomLayout) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The baseline: ``GlobalEncoder.structure`` before hop distances were stored with the graphs (it
    searched them by matmuls at every step and built (B, N, N, H) lookups and bond biases, then permuted)."""
    batch, n = layout.mask.shape
    index = layout.edges(graph)
    bias = None
    if self.distance_bias is not None:
        with torch.no_grad():
            distance = matmul_shortest_path_distances(index, batch, n, self.config.max_distance)
        bias = self.distance_bias.weight.index_select(0, distance.view(-1)).view(*distance.shape, -1)
    if self.bond_bias is not None:
        bonds = layout.mask.new_zeros(batch, n, n, self.config.heads, dtype=torch.float32)
        bonds = bonds.index_put(index, self.bond_bias(edge_features(graph, self.edge_feat_dim)), accumulate=True)
        bias = bonds if bias is None else bias + bonds
    padding = key_padding_bias(layout.mask)
    bias = padding if bias is None else bias.permute(0, 3, 1, 2) + padding
    normalised = None
    if self.config.lambda_adj:
        adjacency = layout.mask.new_zeros(batch, n, n, dtype=torch.float32)
        adjacency[index] = 1.0
        normalised = adjacency / adjacency.sum(-1, keepdim=True).clamp(min=1.0)
    return bias, normalised


@contextmanager
def matmul_structure_biases():
    current = GlobalEncoder.structure
    GlobalEncoder.structure = matmul_structure
    try:
        yield
    finally:
        GlobalEncoder.structure = current


def structure_before_after(model: LGMCL, data: list[tuple], batches: int, repeats: int) -> dict[str, dict]:
    """Structure biases and a fine-tuning step with the matmul search at every step (before) and the
    stored distances (now): the same biases and gradients (checked), less time."""
    model.train()
    encoder = model.global_

    def structure_step(i):
        graph = data[i][0]
        layout = AtomLayout.of(graph)
        bias, _ = encoder.structure(graph, layout)
        return bias.masked_fill(~layout.mask[:, None, None, :], 0).sum()  # -inf at padding keys

    def finetune_step(i):
        return model(*data[i][:6]).sum()

    parameters = list(encoder.parameters())
    for i in range(batches):
        graph = data[i][0]
        layout = AtomLayout.of(graph)
        with matmul_structure_biases():
            before, _ = encoder.structure(graph, layout)
            before_grads = torch.autograd.grad(before.masked_fill(torch.isinf(before), 0).sum(), parameters, allow_unused=True)
        now, _ = encoder.structure(graph, layout)
        now_grads = torch.autograd.grad(now.masked_fill(torch.isinf(now), 0).sum(), parameters, allow_unused=True)
        assert torch.equal(before, now) and all((a is None and b is None) or torch.equal(a, b) for a, b in zip(before_grads, now_grads))
    result = {}
    for name, step in (("structure biases", structure_step), ("finetune_step", finetune_step)):
        with matmul_structure_biases():
            before = timed(step, batches, repeats)
        now = timed(step, batches, repeats)
        result[name] = {"before": before, "now": now, "cpu_speedup": round(before["cpu_ms"] / now["cpu_ms"], 2)}
    return result


def peptide_smiles() -> str:
    """A 492-heavy-atom peptide (94 Gly, 10 Phe, 1 Ala), the size of the largest molecule of issue #23's
    set (the MoleculeNet sets here stop at 136 atoms)."""
    residues = ["N[C@@H](Cc1ccccc1)C(=O)" if i % 10 == 5 else "N[C@@H](C)C(=O)" if i == 100 else "NCC(=O)" for i in range(105)]
    return "".join(residues) + "O"


def size_cases(bbbp_records: list) -> dict[str, list]:
    """The global encoder's test cases by molecule size: featurize records of each."""
    toxcast = load_molecules(shared_data_dir() / "moleculenet" / "toxcast_data.csv.gz", smiles_column="smiles")
    sizes = [Chem.MolFromSmiles(s).GetNumAtoms() for s in toxcast.smiles]
    largest = [toxcast.smiles[i] for i in sorted(range(len(sizes)), key=lambda i: -sizes[i])[:BATCH]]
    config = FeaturizeConfig(progress=False)  # as the BBBP records, so the cases can mix molecules

    def unlabelled(smiles: list[str]) -> list:  # labels as wide as BBBP's
        return featurize_smiles(smiles, config, labels=np.full((len(smiles), len(bbbp_records[0].labels)), np.nan))

    peptide = unlabelled([peptide_smiles()])
    return {"BBBP, first 64": bbbp_records[:BATCH], "ToxCast, 64 largest": unlabelled(largest),
            "one 492-atom peptide": peptide, "63 BBBP + the peptide (a random batch)": bbbp_records[:BATCH - 1] + peptide}


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith(field + ":"))


def peak_mib(run: Callable[[], object]) -> float:
    """Resident memory one call adds at its peak, MiB: the kernel's high-water mark, reset just before
    (Linux); ``main`` has malloc map large blocks, so freed tensors leave RSS and every call starts level."""
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")
    floor = _status_kib("VmRSS")
    run()
    return round((_status_kib("VmHWM") - floor) / 1024, 1)


def global_encoder_by_size(model: LGMCL, cases: dict[str, list], repeats: int) -> dict[str, dict]:
    """Forward + backward of the global encoder (training mode) on each case, with the matmul search at
    every step (before) and the stored distances (now): CPU ms, peak memory, and the peak of a forward
    without gradients (predict); and the one-off cost of the distances (featurize, or collate for
    shards written without them)."""
    encoder = model.global_.train()
    result = {}
    for name, records in cases.items():
        graph = collate(records).graph
        counts = graph.batch_num_nodes()
        start = time.process_time()
        for record in records:
            hop_distances(len(record.node_feats), record.bonds)
        entry = {"molecules": len(records), "largest_atoms": int(counts.max()),
                 "padding_efficiency": round(int(counts.sum()) / (len(records) * int(counts.max())), 3),
                 "distances_once_cpu_ms": round(1000 * (time.process_time() - start), 1)}

        def step(_):
            return encoder(graph)[1].sum()

        def inference():
            with torch.no_grad():
                encoder.eval()(graph)
            encoder.train()

        for label, context in (("before", matmul_structure_biases), ("now", nullcontext)):
            with context():
                entry[label] = {**timed(step, 1, repeats), "peak_mib": peak_mib(lambda: step(0).backward()),
                                "inference_peak_mib": peak_mib(inference)}
        entry["cpu_speedup"] = round(entry["before"]["cpu_ms"] / entry["now"]["cpu_ms"], 2)
        result[name] = entry
    return result


def part_timings(model: LGMCL, data: list[tuple], batches: int, repeats: int) -> dict[str, float]:
    """Forward + backward per batch for each encoder, the fusion + head, and whole training steps."""
    model.train()
    result = {
        "local": timed(lambda i: model.local(data[i][0])[1].sum(), batches, repeats),
        "global": timed(lambda i: model.global_(data[i][0])[1].sum(), batches, repeats),
        "text_smiles": timed(lambda i: model.text_encoder(*data[i][2:4])[1].sum(), batches, repeats),
        "text_description": timed(lambda i: model.text_encoder(*data[i][4:6])[1].sum(), batches, repeats),
    }

    def pretrain_step(i):
        graph, _, s_ids, s_mask, d_ids, d_mask, _ = data[i]
        views = model.pretrain_views(graph, s_ids, s_mask, d_ids, d_mask)
        return nt_xent(views["local"], views["global"]) + nt_xent(views["smiles"], views["description"]) + nt_xent(views["global"], views["smiles"])

    def finetune_step(i):
        graph, fingerprints, s_ids, s_mask, d_ids, d_mask, labels = data[i]
        logits = model(graph, fingerprints, s_ids, s_mask, d_ids, d_mask)
        return masked_bce(logits, labels, torch.ones_like(labels, dtype=torch.bool))

    with torch.no_grad():
        encoded = []
        for graph, fingerprints, s_ids, s_mask, d_ids, d_mask, _ in data[:batches]:
            local, global_ = model._graph_tokens(graph)
            encoded.append((local, global_, model._text_tokens(s_ids, s_mask, "smiles"), model._text_tokens(d_ids, d_mask, "description"), fingerprints))

    def fusion_step(i):
        views = [Tokens(t.values.clone().requires_grad_(), t.mask, t.summary.clone().requires_grad_()) for t in encoded[i][:4]]
        return model.head(model.fusion(*views, encoded[i][4])).sum()

    result["fusion_and_head"] = timed(fusion_step, batches, repeats)
    result["pretrain_step"] = timed(pretrain_step, batches, repeats)
    result["finetune_step"] = timed(finetune_step, batches, repeats)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["small"], help="presets to time (counts cover small and paper always)")
    parser.add_argument("--batches", type=int, default=4, help="batches of 64 BBBP molecules per timing")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="1 gives the steadiest CPU times on a shared machine")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/models"))
    args = parser.parse_args()
    ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, 1 << 16)  # see peak_mib
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    table = load_molecules("bbbp")
    smiles = table.smiles[: BATCH * args.batches]
    records = featurize_smiles(smiles, FeaturizeConfig(progress=False), labels=table.labels[: len(smiles)])
    descriptions = [stand_in_description(s) for s in smiles]
    node_feat_dim, edge_feat_dim = feature_dims("attentivefp")
    dims = {"node_feat_dim": node_feat_dim, "edge_feat_dim": edge_feat_dim}
    results: dict = {"batch_size": BATCH, "threads": args.threads, "torch": torch.__version__, "presets": {}}

    for name in [*args.presets, *(p for p in ("small", "paper") if p not in args.presets)]:  # timed first: peak RSS is theirs
        config = load_preset(name, dims)
        with tempfile.TemporaryDirectory() as tmp:
            tokenizer = train_tokenizer(smiles + descriptions, tmp, vocab_size=min(config.text.vocab_size, 2048), model_max_length=config.text.max_length)
        model = LGMCL(config, n_tasks=1)
        counts = model.parameter_counts()
        entry = {"parameters": counts, "training_state_mib": round(counts["total"] * 16 / 2**20, 1)}  # weights, grads, 2 Adam moments
        print(f"{name}: {counts}")
        if name in args.presets:
            data = []
            for b in range(args.batches):
                part = slice(b * BATCH, (b + 1) * BATCH)
                s_enc = tokenizer(smiles[part], padding=True, truncation=True, return_tensors="pt")
                d_enc = tokenizer(descriptions[part], padding=True, truncation=True, return_tensors="pt")
                batch = collate(records[part])
                data.append((batch.graph, batch.fingerprints, s_enc["input_ids"], s_enc["attention_mask"], d_enc["input_ids"], d_enc["attention_mask"], batch.labels))
            entry["description_tokens"] = int(data[0][5].shape[1])
            entry["ms_per_batch"] = part_timings(model, data, args.batches, args.repeats)
            other = "attention" if config.fusion == "gated" else "gated"
            variant = LGMCL(load_preset(name, {**dims, "fusion": other}), n_tasks=1).train()
            entry["ms_per_batch"][f"finetune_step_fusion_{other}"] = timed(lambda i: variant(*data[i][:6]).sum(), args.batches, args.repeats)
            entry["global_attention_layer_ms"] = attention_layouts(model, [d[0] for d in data], args.batches, args.repeats)
            entry["structure_before_after_ms"] = structure_before_after(model, data, args.batches, args.repeats)
            entry["global_encoder_by_size"] = global_encoder_by_size(model, size_cases(records), args.repeats)
            entry["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
            batches_per_epoch = -(-len(table) // BATCH)
            entry["finetune_epoch_estimate_s"] = {k.replace("_ms", "_s"): round(v * batches_per_epoch / 1000, 1) for k, v in entry["ms_per_batch"]["finetune_step"].items()}
            print(f"{name}: ms per batch of {BATCH}: {entry['ms_per_batch']}")
            print(f"{name}: one global attention layer: {entry['global_attention_layer_ms']}")
            print(f"{name}: structure biases, before and now: {entry['structure_before_after_ms']}")
            print(f"{name}: global encoder by molecule size, before and now: {entry['global_encoder_by_size']}")
            print(f"{name}: finetune epoch over {len(table)} BBBP molecules ~{entry['finetune_epoch_estimate_s']} s")
        results["presets"][name] = entry

    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out / "models.json", results)
    atomic_write_text(args.out / "models.md", markdown(results))
    print(f"wrote {args.out / 'models.json'} and models.md")


def markdown(results: dict) -> str:
    lines = [f"# Model parts ({results['threads']} CPU threads, batch {results['batch_size']} BBBP molecules)", ""]
    parts = list(next(iter(results["presets"].values()))["parameters"])
    lines += ["| preset | " + " | ".join(parts) + " | training state MiB |", "|---" * (len(parts) + 2) + "|"]
    for name, entry in results["presets"].items():
        lines.append(f"| {name} | " + " | ".join(f"{entry['parameters'][p]:,}" for p in parts) + f" | {entry['training_state_mib']} |")
    for name, entry in results["presets"].items():
        if "ms_per_batch" not in entry:
            continue
        lines += ["", f"## {name}: forward + backward per batch", "", "| part | wall ms | CPU ms (all threads) |", "|---|---|---|"]
        timings = {**entry["ms_per_batch"], **{f"one global layer, {k}": v for k, v in entry["global_attention_layer_ms"].items()}}
        lines += [f"| {k} | {v['wall_ms']} | {v['cpu_ms']} |" for k, v in timings.items()]
        lines += ["", "The global encoder's structure biases before and now (same values and gradients):", "",
                  "| timed | before wall ms | before CPU ms | now wall ms | now CPU ms | CPU speed-up |", "|---|---|---|---|---|---|"]
        for part, t in entry.get("structure_before_after_ms", {}).items():
            lines.append(f"| {part} | {t['before']['wall_ms']} | {t['before']['cpu_ms']} | {t['now']['wall_ms']} "
                         f"| {t['now']['cpu_ms']} | {t['cpu_speedup']}x |")
        lines += ["", "The global encoder, forward + backward in training mode, by molecule size (peak: resident memory "
                  "the step adds; no-grad: a forward without gradients, as predict runs; distances: computing the "
                  "batch's hop distances once, as featurize does):", "",
                  "| batch | molecules | largest atoms | real/padded atoms | before CPU ms | now CPU ms | speed-up "
                  "| before peak MiB | now peak MiB | no-grad peak MiB, before | now | distances CPU ms |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for case, t in entry.get("global_encoder_by_size", {}).items():
            before, now = t["before"], t["now"]
            lines.append(f"| {case} | {t['molecules']} | {t['largest_atoms']} | {t['padding_efficiency']} "
                         f"| {before['cpu_ms']} | {now['cpu_ms']} | {t['cpu_speedup']}x | {before['peak_mib']} | {now['peak_mib']} "
                         f"| {before['inference_peak_mib']} | {now['inference_peak_mib']} | {t['distances_once_cpu_ms']} |")
        epoch = entry["finetune_epoch_estimate_s"]
        lines += ["", f"Finetune epoch over BBBP: ~{epoch['wall_s']} s wall ({epoch['cpu_s']} CPU s); description tokens {entry['description_tokens']}; peak RSS {entry['peak_rss_mib']} MiB."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

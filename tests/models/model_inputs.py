"""Tiny real inputs for model tests: dgllife-featurized graphs, a tokenizer trained here, tiny configs.

Imported by the test modules beside it (pytest puts this folder on sys.path)."""

from __future__ import annotations

import dgl
import torch
from dgllife.utils import AttentiveFPAtomFeaturizer, AttentiveFPBondFeaturizer, mol_to_bigraph
from rdkit import Chem

from lgmcl_dgl.models.config import ModelConfig, apply_overrides, load_preset
from lgmcl_dgl.text.tokenizer import train_tokenizer

ATOMS = AttentiveFPAtomFeaturizer("h")
BONDS = AttentiveFPBondFeaturizer("e")
SMILES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "C", "[Na+].[Cl-]", "CN1CCC[C@H]1c1cccnc1"]


def graph_of(mol_or_smiles) -> dgl.DGLGraph:
    mol = Chem.MolFromSmiles(mol_or_smiles) if isinstance(mol_or_smiles, str) else mol_or_smiles
    graph = mol_to_bigraph(mol, node_featurizer=ATOMS, edge_featurizer=BONDS, canonical_atom_order=False)
    if "e" not in graph.edata:  # no bonds: dgllife adds no edge data, batching needs the key
        graph.edata["e"] = torch.zeros(0, BONDS.feat_size("e"))
    return graph


def batch_of(smiles: list[str]) -> dgl.DGLGraph:
    return dgl.batch([graph_of(s) for s in smiles])


def tiny_config(**overrides) -> ModelConfig:
    base = {
        "embed_dim": 16,
        "node_feat_dim": ATOMS.feat_size("h"),
        "edge_feat_dim": BONDS.feat_size("e"),
        "local": {"hidden": 16},
        "global": {"d_model": 16, "heads": 2, "ffn_dim": 32, "lambda_adj": 0.3},
        "text": {"vocab_size": 200, "hidden": 16, "layers": 1, "heads": 2, "intermediate": 32, "max_length": 64},
        "head": {"fingerprint_hidden": [32, 16], "task_hidden": 16, "fusion_heads": 2},
    }
    return load_preset("small", apply_overrides(base, overrides))


def make_tokenizer(out_dir):
    texts = SMILES + ["A small polar molecule with one hydroxyl group.", "An aromatic ring bearing an amide and a phenol."]
    return train_tokenizer(texts * 5, out_dir, vocab_size=120)


def encode(tokenizer, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    enc = tokenizer(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
    return enc["input_ids"], enc["attention_mask"]

"""Molecular graphs and fingerprints, computed once and stored for every later step."""

from lgmcl_dgl.featurize.dataset import FeaturizedDataset, GraphBatch, MoleculeRecord, collate
from lgmcl_dgl.featurize.pipeline import FeaturizeConfig, featurize, featurize_smiles

__all__ = ["FeaturizeConfig", "FeaturizedDataset", "GraphBatch", "MoleculeRecord", "collate", "featurize", "featurize_smiles"]

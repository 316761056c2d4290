"""Applicability domain of a RUN: how close a new molecule is to what the models were trained on.

A prediction for a molecule unlike every training molecule is an extrapolation; predict reports,
per molecule, its maximum Tanimoto similarity (Morgan, radius 2, 2048 bits) to the training
molecules, the nearest training SMILES, and whether it is in the domain: at least the threshold,
the 5th percentile of the validation molecules' own maximum similarity to the training molecules
(so 95% of molecules drawn like the validation split count as in the domain).

The training molecules are those of the run's first seed (its ``predictions_train.csv``); their
fingerprints and the threshold are stored in ``RUN/domain/`` (packed uint8 ``.npy``, then
``domain.json``, each written atomically) at the end of finetune, or on the first predict of an
older run. Similarities are computed with RDKit's
BulkTanimotoSimilarity, one query against all training fingerprints at a time: C-speed popcounts,
memory bounded by one row of similarities (benchmarks/explain.py measures it against a numpy product).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lgmcl_dgl.data.artifacts import ArtifactError, atomic_write_bytes, atomic_write_json
from lgmcl_dgl.evaluate.run_dir import run_seeds, seed_dir

DOMAIN_DIR = "domain"
FINGERPRINTS = "train_morgan.npy"
DOMAIN_JSON = "domain.json"
RADIUS, N_BITS = 2, 2048
THRESHOLD_PERCENTILE = 5.0
COLUMNS = ("ad_max_similarity", "ad_nearest_train_smiles", "ad_in_domain")


def morgan_packed(smiles: list[str]) -> np.ndarray:
    """(molecules, N_BITS / 8) packed Morgan bits; an unparsable SMILES gets no bits."""
    from rdkit import Chem, DataStructs
    from rdkit.Chem import rdFingerprintGenerator

    generator = rdFingerprintGenerator.GetMorganGenerator(radius=RADIUS, fpSize=N_BITS)
    bits = np.zeros((len(smiles), N_BITS), np.uint8)
    for i, text in enumerate(smiles):
        mol = Chem.MolFromSmiles(text)
        if mol is not None:
            DataStructs.ConvertToNumpyArray(generator.GetFingerprint(mol), bits[i])
    return np.packbits(bits, axis=1)


def bit_vectors(packed: np.ndarray) -> list:
    from rdkit import DataStructs

    vectors = []
    for row in np.unpackbits(packed, axis=1):
        vector = DataStructs.ExplicitBitVect(N_BITS)
        vector.SetBitsFromList(np.flatnonzero(row).tolist())
        vectors.append(vector)
    return vectors


def max_similarity(queries: np.ndarray, train: list) -> tuple[np.ndarray, np.ndarray]:
    """Each packed query's maximum Tanimoto similarity to the ``train`` bit vectors, and that neighbour's index."""
    from rdkit import DataStructs

    best = np.zeros(len(queries), np.float32)
    nearest = np.zeros(len(queries), np.int64)
    for i, query in enumerate(bit_vectors(queries)):
        similarities = np.asarray(DataStructs.BulkTanimotoSimilarity(query, train))
        nearest[i] = int(similarities.argmax())
        best[i] = similarities[nearest[i]]
    return best, nearest


@dataclass
class Domain:
    """The training molecules of a run, as fingerprints, and the in-domain threshold."""

    train_smiles: list[str]
    train_vectors: list
    threshold: float

    def columns(self, smiles: list[str]) -> dict[str, np.ndarray]:
        """The AD columns for ``smiles`` (all valid molecules)."""
        if not smiles or not self.train_vectors:
            return {COLUMNS[0]: np.full(len(smiles), np.nan, np.float32),
                    COLUMNS[1]: np.full(len(smiles), "", object), COLUMNS[2]: np.zeros(len(smiles), bool)}
        best, nearest = max_similarity(morgan_packed(smiles), self.train_vectors)
        return {COLUMNS[0]: best, COLUMNS[1]: np.asarray(self.train_smiles, object)[nearest],
                COLUMNS[2]: best >= self.threshold}


def _part_smiles(run: Path, seed: int, part: str) -> list[str]:
    path = seed_dir(run, seed) / f"predictions_{part}.csv"
    if not path.is_file():
        return []
    return pd.read_csv(path, usecols=["smiles"], dtype={"smiles": str}, keep_default_na=False)["smiles"].tolist()


def load_domain(run: str | Path) -> Domain:
    """The run's stored domain, computed and stored first when the run has none yet."""
    run = Path(run)
    seed = run_seeds(run)[0]
    train_smiles = _part_smiles(run, seed, "train")
    if not train_smiles:
        raise ArtifactError(f"{seed_dir(run, seed) / 'predictions_train.csv'}: missing or empty; "
                            "the run's training molecules are needed for the applicability domain")
    directory = run / DOMAIN_DIR
    if (directory / DOMAIN_JSON).is_file() and (directory / FINGERPRINTS).is_file():
        threshold = float(json.loads((directory / DOMAIN_JSON).read_text())["threshold"])
        packed = np.load(directory / FINGERPRINTS)
        if len(packed) != len(train_smiles):
            raise ArtifactError(f"{directory / FINGERPRINTS}: {len(packed)} fingerprints for "
                                f"{len(train_smiles)} training molecules; remove {directory} to recompute it")
        return Domain(train_smiles, bit_vectors(packed), threshold)
    packed = morgan_packed(train_smiles)
    vectors = bit_vectors(packed)
    val_smiles = _part_smiles(run, seed, "val")
    if val_smiles:
        val_best, _ = max_similarity(morgan_packed(val_smiles), vectors)
        threshold = float(np.percentile(val_best, THRESHOLD_PERCENTILE))
    else:
        threshold = 0.0  # no validation split: nothing to calibrate on, every molecule is in the domain
    buffer = io.BytesIO()
    np.save(buffer, packed)
    atomic_write_bytes(directory / FINGERPRINTS, buffer.getvalue())
    atomic_write_json(directory / DOMAIN_JSON, {
        "fingerprint": {"kind": "morgan", "radius": RADIUS, "n_bits": N_BITS}, "seed": seed,
        "n_train": len(train_smiles), "n_val": len(val_smiles), "threshold": threshold,
        "rule": f"{THRESHOLD_PERCENTILE:g}th percentile of validation molecules' max similarity to train"})
    return Domain(train_smiles, vectors, threshold)

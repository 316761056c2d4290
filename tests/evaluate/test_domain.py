import json

import numpy as np
import pandas as pd

from lgmcl_dgl.evaluate import domain
from lgmcl_dgl.evaluate.predict import predict
from lgmcl_dgl.evaluate.run_dir import seed_dir


def _tanimoto_by_hand(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.unpackbits(a, axis=1).astype(int), np.unpackbits(b, axis=1).astype(int)
    both = a @ b.T
    return both / (a.sum(1)[:, None] + b.sum(1)[None, :] - both)


def test_max_similarity_matches_tanimoto_by_hand():
    train = domain.morgan_packed(["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CCCCCCCC"])
    queries = domain.morgan_packed(["CCN", "c1ccccc1", "CCCCCCO"])
    best, nearest = domain.max_similarity(queries, domain.bit_vectors(train))
    expected = _tanimoto_by_hand(queries, train)
    np.testing.assert_allclose(best, expected.max(1), rtol=1e-6)
    assert nearest.tolist() == expected.argmax(1).tolist()


def test_predictions_carry_the_applicability_domain(tiny_run, tmp_path):
    run, _ = tiny_run
    seed = 0
    train = pd.read_csv(seed_dir(run, seed) / "predictions_train.csv")["smiles"].tolist()
    source = tmp_path / "new.csv"
    source.write_text(f"smiles\n{train[3]}\n[Xe]\nnot_a_smiles\n")
    frame = pd.read_csv(predict(run, source, tmp_path / "pred.csv"), keep_default_na=False)
    assert float(frame.loc[0, "ad_max_similarity"]) == 1.0 and frame.loc[0, "ad_nearest_train_smiles"] == train[3]
    assert frame["ad_in_domain"].tolist() == ["True", "False", ""]
    assert float(frame.loc[1, "ad_max_similarity"]) < 0.1
    assert frame.loc[2, "ad_max_similarity"] == "" and frame.loc[2, "error"] != ""

    stored = json.loads((run / domain.DOMAIN_DIR / domain.DOMAIN_JSON).read_text())
    packed = np.load(run / domain.DOMAIN_DIR / domain.FINGERPRINTS)
    assert packed.dtype == np.uint8 and packed.shape == (len(train), domain.N_BITS // 8)
    val = pd.read_csv(seed_dir(run, seed) / "predictions_val.csv")["smiles"].tolist()
    by_hand = _tanimoto_by_hand(domain.morgan_packed(val), packed).max(1)
    assert abs(stored["threshold"] - np.percentile(by_hand, 5)) < 1e-6

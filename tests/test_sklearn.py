"""The scikit-learn estimators on real molecules, with tiny models.

BBBP comes from the copy shipped in the package. tests/sklearn_esol60.csv is the header and first
60 data rows of ../shared/data/moleculenet/delaney-processed.csv (ESOL, deepchem; see
shared/data/SOURCES.md), columns ``smiles``, ``measured log solubility in mols per litre`` and
``ESOL predicted log solubility in mols per litre``, values unchanged.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import estimator_checks_generator
from tiny_finetune import TINY_MODEL

from lgmcl_dgl.data.artifacts import ArtifactError
from lgmcl_dgl.data.load import parse_smiles
from lgmcl_dgl.data.registry import EMBEDDED
from lgmcl_dgl.evaluate.predict import PredictConfig, predict
from lgmcl_dgl.sklearn import LGMCLClassifier, LGMCLRegressor

TINY = {"overrides": TINY_MODEL, "epochs": 2, "batch_size": 32, "n_jobs": 1, "device": "cpu"}
ESOL = Path(__file__).parent / "sklearn_esol60.csv"
MEASURED, PREDICTED = "measured log solubility in mols per litre", "ESOL predicted log solubility in mols per litre"
PENTAVALENT_N = 59  # BBBP's row 59: a nitrogen with five bonds, refused by RDKit


@pytest.fixture(scope="module")
def bbbp() -> pd.DataFrame:
    """The shipped BBBP file as read by the CLI (strings, no NA guessing)."""
    return pd.read_csv(EMBEDDED["bbbp"], dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def bbbp60(bbbp) -> pd.DataFrame:
    """30 permeable and 30 impermeable molecules, the first valid ones of each class in file order."""
    valid = bbbp[[parse_smiles(s)[0] is not None for s in bbbp.smiles]].assign(p_np=lambda f: f.p_np.astype(int))
    return pd.concat([valid[valid.p_np == 1].head(30), valid[valid.p_np == 0].head(30)]).sort_index()


@pytest.fixture(scope="module")
def private_cache(tmp_path_factory):
    """Module-scoped fits run before the function-scoped private cache of conftest: give them their own."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LGMCL_CACHE", str(tmp_path_factory.mktemp("module-cache")))
        yield


@pytest.fixture(scope="module")
def classifier(bbbp60, private_cache) -> LGMCLClassifier:
    return LGMCLClassifier(**TINY).fit(bbbp60.smiles.tolist(), bbbp60.p_np.to_numpy())


def test_cross_val_score_in_a_pipeline(bbbp60):
    pipeline = Pipeline([("smiles", ColumnTransformer([("smiles", "passthrough", ["smiles"])])),
                         ("model", LGMCLClassifier(**TINY))])
    scores = cross_val_score(pipeline, bbbp60, bbbp60.p_np, cv=2, scoring="roc_auc")
    assert scores.shape == (2,) and np.isfinite(scores).all() and ((scores >= 0) & (scores <= 1)).all()


def test_fit_trains_on_all_of_x_with_a_validation_part(classifier, bbbp60):
    run = classifier.run_dir_
    split = pd.read_json(run / "seed_0" / "split.json", typ="series")
    assert sorted(split["train"] + split["val"]) == list(range(60)) and split["test"] == []
    assert len(split["val"]) == 6  # validation_fraction 0.1 watches early stopping
    assert classifier.task_names_ == ["y"] and classifier.n_features_in_ == 1
    assert classifier.classes_.tolist() == [0, 1]
    assert classifier.get_params() == LGMCLClassifier(**TINY).get_params()  # fit changes no parameter


def test_predict_layout_and_accepted_x_forms(classifier, bbbp60):
    smiles = bbbp60.smiles.tolist()[:8]
    probabilities = classifier.predict_proba(smiles)
    assert probabilities.shape == (8, 2) and np.allclose(probabilities.sum(axis=1), 1)
    labels = classifier.predict(smiles)
    assert labels.shape == (8,) and np.array_equal(labels, (probabilities[:, 1] >= 0.5).astype(float))
    for form in (np.array(smiles), pd.Series(smiles), pd.DataFrame({"smiles": smiles}),
                 np.array(smiles, dtype=object)[:, None]):
        assert np.array_equal(classifier.predict_proba(form), probabilities)
    # rows are scored independently: order and subsets do not change a molecule's prediction
    order = np.random.default_rng(0).permutation(8)
    assert np.allclose(classifier.predict_proba([smiles[i] for i in order]), probabilities[order], atol=1e-6)
    assert np.allclose(classifier.predict_proba(smiles[:3]), probabilities[:3], atol=1e-6)
    with pytest.raises(ValueError, match="one column of SMILES"):
        classifier.predict(pd.DataFrame({"a": smiles, "b": smiles}))
    with pytest.raises(ValueError, match=r"row 0 holds 0\.5 \(float\), not a SMILES string"):
        classifier.predict(np.full((3, 1), 0.5))


def test_predict_keeps_invalid_rows_as_the_cli_does(classifier, bbbp, tmp_path):
    smiles = [bbbp.smiles[0], bbbp.smiles[PENTAVALENT_N], "", "C1CC", bbbp.smiles[1]]
    state = dict(classifier.__dict__)
    probabilities, errors = classifier.predict_proba(smiles, return_errors=True)
    assert classifier.__dict__ == state  # predicting changes nothing on the estimator
    assert probabilities.shape == (5, 2) and np.isnan(probabilities[1:4]).all()
    assert np.isfinite(probabilities[[0, 4]]).all()
    assert errors[0] == errors[4] == "" and "Explicit valence" in errors[1] and errors[2] == "empty SMILES"
    assert "unclosed ring" in errors[3]
    with pytest.warns(UserWarning, match=r"3 of 5 SMILES could not be used.*row 1: .*Explicit valence"):
        labels = classifier.predict(smiles)
    assert labels.shape == (5,) and np.isnan(labels[1:4]).all() and not np.isnan(labels[[0, 4]]).any()
    # the same rows, reasons and probabilities as `lgmcl predict` on the same run
    source = tmp_path / "new.csv"
    pd.DataFrame({"smiles": smiles}).to_csv(source, index=False)
    cli = pd.read_csv(predict(classifier.run_dir_, source, tmp_path / "out.csv", PredictConfig(jobs=0)),
                      keep_default_na=False)
    assert cli["error"].tolist() == errors.tolist()
    assert np.allclose(pd.to_numeric(cli["y"]).to_numpy(), probabilities[:, 1], rtol=1e-5, equal_nan=True)


def test_fit_refuses_invalid_smiles_naming_rows_and_reasons(bbbp60, bbbp, tmp_path):
    smiles = bbbp60.smiles.tolist()[:10] + [bbbp.smiles[PENTAVALENT_N], "C1CC"]
    with pytest.raises(ValueError, match=r"2 of 12 SMILES are not valid.*row 10 .*Explicit valence.*row 11 'C1CC'.*"
                                         r"unclosed ring"):
        LGMCLClassifier(**TINY, work_dir=str(tmp_path)).fit(smiles, [0, 1] * 6)
    assert not list(tmp_path.iterdir())  # refused before anything was written or trained


def test_fit_refuses_labels_it_cannot_learn(bbbp60):
    smiles = bbbp60.smiles.tolist()[:4]
    with pytest.raises(ValueError, match="requires y to be passed"):
        LGMCLClassifier().fit(smiles, None)
    with pytest.raises(ValueError, match=r"row 2, column 'y': label 0.5 is not 0 or 1"):
        LGMCLClassifier().fit(smiles, [0, 1, 0.5, 1])
    with pytest.raises(ValueError, match=r"row 1, column 'b': label inf is not finite"):
        LGMCLRegressor().fit(smiles, pd.DataFrame({"a": [1.0, 2, 3, 4], "b": [1, np.inf, 3, 4]}))
    with pytest.raises(ValueError, match="column 'y' has no labels at all"):
        LGMCLRegressor().fit(smiles, [np.nan] * 4)
    with pytest.raises(ValueError, match=r"one row per SMILES \(4\)"):
        LGMCLRegressor().fit(smiles, [1.0, 2.0])


def test_multi_task_regression_in_original_units(tmp_path, monkeypatch):
    esol = pd.read_csv(ESOL)
    targets = esol[[MEASURED, PREDICTED]].copy()
    targets.loc[::4, PREDICTED] = np.nan  # missing labels are masked, not dropped
    train, new = slice(0, 45), slice(45, 60)
    model = LGMCLRegressor(**TINY, work_dir=str(tmp_path / "work")).fit(esol.smiles[train], targets[train])
    assert model.task_names_ == [MEASURED, PREDICTED]
    values = model.predict(esol.smiles[new])
    assert values.shape == (15, 2) and np.isfinite(values).all()
    # log-solubility units, not z-scores: near the training mean (-3.5 here), at most a std away
    mean, std = targets[train].mean().to_numpy(), targets[train].std().to_numpy()
    assert (np.abs(values.mean(axis=0) - mean) < std).all()
    assert model.run_dir_.parent.parent == tmp_path / "work"  # kept under work_dir
    again = clone(model).fit(esol.smiles[train], targets[train])  # a refit is the same model (scikit-learn's
    assert again.run_dir_ != model.run_dir_  # check_fit_idempotent), in a run of its own
    assert np.allclose(again.predict(esol.smiles[new]), values, atol=1e-5)
    copy = pickle.loads(pickle.dumps(model))  # a work_dir run outlives the estimator: the pickle holds its path
    assert np.array_equal(copy.predict(esol.smiles[new]), values)
    assert np.array_equal(model.predict(esol.smiles[new]), values)  # pickling left the original whole
    with pytest.raises(ArtifactError, match="holds a regression model, not classification"):
        LGMCLClassifier.from_run(model.run_dir_)


def test_multi_task_classification_with_missing_labels(moleculenet):
    tox21 = pd.read_csv(moleculenet / "tox21.csv.gz").head(40)  # 12 tasks, 19% of the labels missing
    tasks = tox21.drop(columns=["mol_id", "smiles"])
    model = LGMCLClassifier(**TINY).fit(tox21.smiles, tasks)
    assert model.task_names_ == list(tasks.columns) and [c.tolist() for c in model.classes_] == [[0, 1]] * 12
    probabilities = model.predict_proba(tox21.smiles[:5])
    assert probabilities.shape == (5, 12) and ((probabilities >= 0) & (probabilities <= 1)).all()
    assert np.array_equal(model.predict(tox21.smiles[:5]), (probabilities >= 0.5).astype(float))


def test_save_from_run_and_pickling(classifier, bbbp60, tmp_path):
    smiles = bbbp60.smiles.tolist()[:6]
    saved = classifier.save(tmp_path / "model")
    loaded = LGMCLClassifier.from_run(saved, device="cpu")
    assert np.array_equal(loaded.predict_proba(smiles), classifier.predict_proba(smiles))
    kept = ("preset", "overrides", "pretrained", "modalities", "epochs", "patience", "batch_size", "lr",
            "validation_fraction", "n_seeds", "random_state", "device")
    assert {k: loaded.get_params()[k] for k in kept} == {k: classifier.get_params()[k] for k in kept}
    with pytest.raises(ArtifactError, match="already exists"):
        classifier.save(saved)
    with pytest.raises(TypeError, match=r"temporary directory.*save\(path\)"):
        pickle.dumps(classifier)
    copy = pickle.loads(pickle.dumps(loaded))
    assert np.array_equal(copy.predict_proba(smiles), loaded.predict_proba(smiles))  # both still work


def test_params_clone_round_trip(classifier):
    estimator = LGMCLClassifier(**TINY)
    assert clone(estimator).get_params() == estimator.get_params()
    assert estimator.set_params(lr=0.01, n_seeds=2) is estimator and estimator.get_params()["lr"] == 0.01
    fresh = clone(classifier)
    assert fresh.get_params() == classifier.get_params()
    with pytest.raises(NotFittedError):
        fresh.predict(["CCO"])


# scikit-learn's own checks. They build numeric matrices (make_blobs, random floats) as X; for a model
# of molecules those are not inputs but errors, so every check that needs a fit or a predict on such
# data is skipped here, with the same property tested on SMILES above where it applies.
NUMERIC_X = "fits or predicts on a numeric matrix; X is SMILES"
SKIPPED = {name: NUMERIC_X for name in (
    "check_fit_score_takes_y", "check_readonly_memmap_input", "check_positive_only_tag_during_fit",
    "check_estimators_dtypes", "check_complex_data", "check_dtype_object", "check_pipeline_consistency",
    "check_estimator_sparse_tag", "check_estimator_sparse_array", "check_estimator_sparse_matrix",
    "check_array_api_input", "check_f_contiguous_array_estimator", "check_fit2d_1sample", "check_fit2d_1feature",
    "check_fit2d_predict1d", "check_classifier_data_not_an_array", "check_classifiers_classes",
    "check_classifiers_train", "check_classifier_multioutput", "check_classifiers_one_label",
    "check_regressors_train", "check_regressor_data_not_an_array", "check_regressor_multioutput",
    "check_regressors_no_decision_function", "check_regressors_int", "check_supervised_y_2d")}
SKIPPED.update({
    "check_estimators_overwrite_params": NUMERIC_X + "; on SMILES: test_fit_trains_on_all_of_x_with_a_validation_part",
    "check_dont_overwrite_parameters": NUMERIC_X + "; on SMILES: test_fit_trains_on_all_of_x_with_a_validation_part",
    "check_estimators_fit_returns_self": NUMERIC_X + "; on SMILES: the classifier fixture chains fit(...)",
    "check_n_features_in_after_fitting": NUMERIC_X + "; n_features_in_ is 1, the SMILES column",
    "check_n_features_in": NUMERIC_X + "; n_features_in_ is 1, the SMILES column",
    "check_fit_check_is_fitted": NUMERIC_X + "; on SMILES: test_params_clone_round_trip",
    "check_dict_unchanged": NUMERIC_X + "; on SMILES: test_predict_keeps_invalid_rows_as_the_cli_does",
    "check_methods_sample_order_invariance": NUMERIC_X + "; on SMILES: test_predict_layout_and_accepted_x_forms",
    "check_methods_subset_invariance": NUMERIC_X + "; on SMILES: test_predict_layout_and_accepted_x_forms",
    "check_fit_idempotent": NUMERIC_X + "; on SMILES: test_multi_task_regression_in_original_units",
    "check_estimators_pickle": NUMERIC_X + "; on SMILES: test_save_from_run_and_pickling",
    "check_estimators_nan_inf": "NaN in X is a missing SMILES: a row reported invalid, not a numeric error",
    "check_estimators_empty_data_messages": "expects numeric-matrix wording ('0 feature(s)')",
    "check_classifiers_regression_target": NUMERIC_X + "; on SMILES: test_fit_refuses_labels_it_cannot_learn",
    "check_supervised_y_no_nan": NUMERIC_X + "; NaN labels are missing labels (masked), all-NaN is refused: "
                                             "test_fit_refuses_labels_it_cannot_learn",
})


def _check_id(value) -> str:
    if isinstance(value, LGMCLClassifier | LGMCLRegressor):
        return type(value).__name__
    return getattr(value, "func", value).__name__  # checks come as functions or partials of them


@pytest.mark.parametrize("estimator, check", [
    *estimator_checks_generator(LGMCLClassifier(**TINY), expected_failed_checks=SKIPPED, mark="skip"),
    *estimator_checks_generator(LGMCLRegressor(**TINY), expected_failed_checks=SKIPPED, mark="skip")], ids=_check_id)
def test_sklearn_checks(estimator, check):
    check(estimator)

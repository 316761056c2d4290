"""What evaluate and predict take from the RUN directory: that it is one, and the SMILES column it was trained on."""

import json

import pandas as pd
import pytest
from tiny_finetune import tiny_config

from lgmcl_dgl.data.artifacts import ArtifactError
from lgmcl_dgl.evaluate.predict import predict
from lgmcl_dgl.evaluate.run_metrics import evaluate_run
from lgmcl_dgl.featurize.pipeline import FeaturizeConfig, featurize
from lgmcl_dgl.finetune import finetune


@pytest.fixture(scope="module")
def structure_run(tmp_path_factory, moleculenet):
    """One seed trained on BBBP rows whose SMILES column has a name no guess would find: 'structure'."""
    root = tmp_path_factory.mktemp("structure_run")
    frame = pd.read_csv(moleculenet / "BBBP.csv", nrows=60)[["name", "smiles", "p_np"]]
    source = root / "train.csv"
    frame.rename(columns={"smiles": "structure"}).to_csv(source, index=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LGMCL_CACHE", str(root / "cache"))
        run = finetune(source, root / "run", tiny_config(smiles_column="structure", target_columns=["p_np"], epochs=1,
                                                         modalities=["local", "fingerprints"]))
    return run, frame


def test_the_run_records_its_smiles_column(structure_run):
    run, _ = structure_run
    assert json.loads((run / "manifest.json").read_text())["extra"]["smiles_column"] == "structure"


def test_predict_and_evaluate_default_to_the_runs_smiles_column(structure_run, tmp_path):
    run, frame = structure_run
    new = tmp_path / "new.csv"
    new.write_text("id,structure\nA,CCO\nB,c1ccccc1O\n")
    predicted = pd.read_csv(predict(run, new, tmp_path / "p.csv"), keep_default_na=False)
    assert predicted["smiles"].tolist() == ["CCO", "c1ccccc1O"] and (predicted["error"] == "").all()
    assert predicted["id"].tolist() == ["A", "B"]

    labelled = tmp_path / "labelled.csv"
    frame.rename(columns={"smiles": "structure"}).tail(20).to_csv(labelled, index=False)
    metrics = json.loads((evaluate_run(run, labelled, tmp_path / "eval") / "metrics.json").read_text())
    assert metrics["n_molecules"] + metrics["n_invalid"] == 20


def test_an_input_without_the_runs_column_is_read_as_any_input(structure_run, tmp_path):
    run, _ = structure_run
    new = tmp_path / "new.csv"
    new.write_text("smiles,name\nCCO,ethanol\n")
    predicted = pd.read_csv(predict(run, new, tmp_path / "p.csv"), keep_default_na=False)
    assert predicted["smiles"].tolist() == ["CCO"] and predicted["name"].tolist() == ["ethanol"]


def test_a_folder_that_is_not_a_run_says_how_to_make_one(tmp_path):
    folder = tmp_path / "features"
    folder.mkdir()
    new = tmp_path / "new.csv"
    new.write_text("smiles\nCCO\n")
    for call in (lambda: predict(folder, new, tmp_path / "p.csv"), lambda: evaluate_run(folder, new)):
        with pytest.raises(ArtifactError, match=r"not a finetune run .*`lgmcl finetune INPUT -o .*features`") as error:
            call()
        assert "--resume" not in str(error.value)


def test_a_seed_folder_or_another_steps_output_is_named(structure_run, tmp_path):
    run, _ = structure_run
    new = tmp_path / "new.csv"
    new.write_text("structure\nCCO\n")
    with pytest.raises(ArtifactError, match=f"one seed of the run {run}; give the run"):
        predict(run / "seed_0", new, tmp_path / "p.csv")
    featurized = featurize(new, tmp_path / "feat", FeaturizeConfig(smiles_column="structure", jobs=1, progress=False))
    with pytest.raises(ArtifactError, match="holds a 'featurize' output, not a finetune run"):
        evaluate_run(featurized, new)


def test_a_run_without_a_finished_seed_says_to_resume_it(structure_run, tmp_path):
    started = tmp_path / "started"
    started.mkdir()
    (started / "finetune_config.json").write_text((structure_run[0] / "finetune_config.json").read_text())
    with pytest.raises(ArtifactError, match="no finished seed yet .* --resume"):
        predict(started, structure_run[0] / "invalid.csv", tmp_path / "p.csv")

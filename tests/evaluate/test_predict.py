import numpy as np
import pandas as pd
import pytest
import torch

from lgmcl_dgl.data.artifacts import ArtifactError
from lgmcl_dgl.evaluate.predict import PredictConfig, chunk_frame, iter_smiles_chunks, labelled_predictions, predict
from lgmcl_dgl.featurize.pipeline import FeaturizeConfig, featurize


def test_predict_keeps_every_row_in_order_with_errors(tiny_run, tmp_path):
    run, _ = tiny_run
    source = tmp_path / "new.csv"
    # row g is a blank line: a row with an empty SMILES, like c
    source.write_text("name,smiles\na,CCO\nb,not_a_smiles\nc,\nd,c1ccccc1O\ne,C1CC\nf,CC(=O)Nc1ccc(O)cc1\n\nh,CCN\n")
    out = predict(run, source, tmp_path / "pred.csv", PredictConfig(chunk_size=2, batch_size=2))
    frame = pd.read_csv(out, keep_default_na=False)
    assert frame["row"].tolist() == list(range(8))
    assert frame["smiles"].tolist() == ["CCO", "not_a_smiles", "", "c1ccccc1O", "C1CC", "CC(=O)Nc1ccc(O)cc1", "", "CCN"]
    assert list(frame.columns) == ["row", "smiles", "p_np", "p_np_std", "error"]  # two seeds: mean and std
    bad = frame["error"] != ""
    assert bad.tolist() == [False, True, True, False, True, False, True, False]
    assert "unclosed ring" in frame.loc[4, "error"] and frame.loc[2, "error"] == frame.loc[6, "error"] == "empty SMILES"
    good = frame.loc[~bad, "p_np"].astype(float)
    assert ((good > 0) & (good < 1)).all()
    assert (frame.loc[bad, "p_np"] == "").all()


def test_predictions_do_not_depend_on_chunking(tiny_run, tmp_path):
    run, source = tiny_run
    small = pd.read_csv(predict(run, source, tmp_path / "a.csv", PredictConfig(chunk_size=7, batch_size=5)))
    large = pd.read_csv(predict(run, source, tmp_path / "b.csv", PredictConfig(chunk_size=1000)))
    assert len(small) == 81  # 80 molecules + the broken row
    np.testing.assert_allclose(small["p_np"], large["p_np"], rtol=1e-4, atol=1e-5)


def test_size_aware_batches_give_the_same_predictions_in_input_order(tiny_run, tmp_path):
    run, source = tiny_run
    plain = pd.read_csv(predict(run, source, tmp_path / "a.csv", PredictConfig(atom_budget=0, jobs=0)))
    sized = pd.read_csv(predict(run, source, tmp_path / "b.csv", PredictConfig(atom_budget=300, jobs=0)))
    assert sized["row"].tolist() == plain["row"].tolist()
    np.testing.assert_allclose(sized["p_np"], plain["p_np"], rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="atom_budget"):
        PredictConfig(atom_budget=-1)


def test_worker_processes_give_the_same_rows_as_one_process(tiny_run, tmp_path):
    run, source = tiny_run
    alone = pd.read_csv(predict(run, source, tmp_path / "a.csv", PredictConfig(jobs=0, chunk_size=16)), keep_default_na=False)
    workers = pd.read_csv(predict(run, source, tmp_path / "b.csv", PredictConfig(jobs=2, chunk_size=16)), keep_default_na=False)
    pd.testing.assert_frame_equal(alone, workers)
    assert (alone["error"] != "").any() and (alone["error"] == "").sum() > 70


def test_bfloat16_text_encoder_stays_close_to_float32(tiny_run, tmp_path):
    run, source = tiny_run
    full = pd.read_csv(predict(run, source, tmp_path / "a.csv", PredictConfig(jobs=0)))
    half = pd.read_csv(predict(run, source, tmp_path / "b.csv", PredictConfig(jobs=0, precision="bfloat16")))
    np.testing.assert_allclose(half["p_np"], full["p_np"], atol=0.02)
    with pytest.raises(ValueError, match="precision"):
        PredictConfig(precision="float8")


def test_predict_matches_the_runs_own_test_predictions(tiny_run, tmp_path):
    run, source = tiny_run
    frame = pd.read_csv(predict(run, source, tmp_path / "all.csv"))
    for seed in (0, 1):
        own = pd.read_csv(run / f"seed_{seed}" / "predictions_test.csv")
        assert len(own) > 0
    seeds = pd.concat([pd.read_csv(run / f"seed_{s}" / "predictions_test.csv").set_index("row")["p_np_pred"]
                       for s in (0, 1)], axis=1).dropna()
    mine = frame.set_index("row").loc[seeds.index, "p_np"]
    np.testing.assert_allclose(mine, seeds.mean(axis=1), rtol=1e-4, atol=1e-5)


def test_featurize_dir_with_other_settings_is_refused(tiny_run, tmp_path):
    run, source = tiny_run
    other = featurize(source, tmp_path / "feat", FeaturizeConfig(atom_featurizer="paper", jobs=1, progress=False))
    with pytest.raises(ArtifactError, match="atom_featurizer: 'paper' \\(model: 'attentivefp'\\)"):
        predict(run, other, tmp_path / "p.csv")
    same = featurize(source, tmp_path / "feat2", FeaturizeConfig(jobs=1, progress=False))
    frame = pd.read_csv(predict(run, same, tmp_path / "p2.csv"), keep_default_na=False)
    assert len(frame) == 81 and frame["error"].iloc[-1] != ""


def test_missing_smiles_column_is_named(tiny_run, tmp_path):
    run, _ = tiny_run
    source = tmp_path / "x.csv"
    source.write_text("a,b\n1,2\n")
    with pytest.raises(Exception, match="cannot tell which column holds SMILES"):
        predict(run, source, tmp_path / "p.csv")
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.filterwarnings("error::pandas.errors.PerformanceWarning")
def test_prediction_frames_of_many_tasks_are_built_whole_in_task_order():
    """ToxCast has 617 tasks: column-by-column frames made pandas warn on every write."""
    names = [f"task{j}" for j in range(617)]
    rng = np.random.default_rng(0)
    labels, predictions = rng.integers(0, 2, (5, 617)).astype(float), rng.random((5, 617))
    frame = labelled_predictions(np.arange(5), ["C"] * 5, names, labels, predictions)
    assert list(frame.columns[2:6]) == ["task0", "task0_pred", "task1", "task1_pred"]
    assert np.array_equal(frame[names].to_numpy(), labels) and np.array_equal(frame["task616_pred"], predictions[:, 616])

    per_seed = rng.random((2, 4, 617)).astype(np.float32)
    chunk = chunk_frame(np.arange(5), ["C", "CC", "x", "N", "O"], ["", "", "invalid", "", ""], [0, 1, 3, 4], per_seed, names)
    assert list(chunk.columns[:4]) == ["row", "smiles", "task0", "task0_std"] and chunk.columns[-1] == "error"
    assert np.isnan(chunk.loc[2, "task5"]) and np.allclose(chunk.loc[3, "task5"], per_seed[:, 2, 5].mean())


def test_smiles_file_chunks(tmp_path):
    path = tmp_path / "m.smi"
    path.write_text("CCO one\n\nc1ccccc1\n")
    chunks = list(iter_smiles_chunks(path, chunk_size=2))
    assert [c[0].tolist() for c in chunks] == [[0, 1], [2]]
    assert [s for _, smiles in chunks for s in smiles] == ["CCO", "", "c1ccccc1"]


def test_scoring_threads_are_a_setting_and_restored(tiny_run, tmp_path):
    run, source = tiny_run
    before = torch.get_num_threads()
    one = pd.read_csv(predict(run, source, tmp_path / "a.csv", PredictConfig(jobs=1, threads=1)))
    assert torch.get_num_threads() == before
    two = pd.read_csv(predict(run, source, tmp_path / "b.csv", PredictConfig(jobs=1, threads=2)))
    np.testing.assert_allclose(one["p_np"], two["p_np"], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="threads"):
        PredictConfig(threads=0)

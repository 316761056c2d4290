import errno
import os

import numpy as np
import pandas as pd
import pytest
import torch

from lgmcl_dgl.data.artifacts import ArtifactError
from lgmcl_dgl.data.load import InputError
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
    assert list(frame.columns) == ["row", "smiles", "name", "p_np", "p_np_std",  # two seeds: mean and std
                                   "ad_max_similarity", "ad_nearest_train_smiles", "ad_in_domain", "error"]
    assert frame["name"].tolist() == ["a", "b", "c", "d", "e", "f", "", "h"]
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
    assert [s for _, smiles, _ in chunks for s in smiles] == ["CCO", "", "c1ccccc1"]
    assert [len(others) for _, _, others in chunks] == [2, 1] and not len(chunks[0][2].columns)


def test_predictions_keep_the_inputs_other_columns_in_input_order(tiny_run, tmp_path):
    """IDs and names stay beside their predictions; an input column named like an output column (here the labels
    of the task the run predicts) is kept as input_<name>."""
    run, _ = tiny_run
    source = tmp_path / "ids.csv"
    source.write_text('id,p_np,smiles,note\nX7,1,CCO,first\nX3,,C1CC,\nX9,0,c1ccccc1O,"with, comma"\n')
    frame = pd.read_csv(predict(run, source, tmp_path / "p.csv", PredictConfig(chunk_size=2)), keep_default_na=False,
                        dtype=str)
    assert list(frame.columns) == ["row", "smiles", "id", "input_p_np", "note", "p_np", "p_np_std",
                                   "ad_max_similarity", "ad_nearest_train_smiles", "ad_in_domain", "error"]
    assert frame["id"].tolist() == ["X7", "X3", "X9"] and frame["input_p_np"].tolist() == ["1", "", "0"]
    assert frame["note"].tolist() == ["first", "", "with, comma"]
    assert frame["error"].tolist()[1] != "" and frame["p_np"].tolist()[1] == "" and frame["p_np"].tolist()[0] != ""


def test_a_latin1_input_is_named_and_read_with_its_encoding(tiny_run, tmp_path):
    run, _ = tiny_run
    source = tmp_path / "old.csv"
    source.write_bytes("name,smiles\nethanol,CCO\nCaféine,Cn1cnc2c1c(=O)n(C)c(=O)n2C\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"old.csv: row 1 \(line 3\) is not valid utf-8 .*--encoding"):
        predict(run, source, tmp_path / "p.csv")
    assert not (tmp_path / "p.csv").exists()
    frame = pd.read_csv(predict(run, source, tmp_path / "p.csv", PredictConfig(encoding="latin-1")),
                        keep_default_na=False)
    assert frame["name"].tolist() == ["ethanol", "Caféine"] and (frame["error"] == "").all()


def test_scoring_threads_are_a_setting_and_restored(tiny_run, tmp_path):
    run, source = tiny_run
    before = torch.get_num_threads()
    one = pd.read_csv(predict(run, source, tmp_path / "a.csv", PredictConfig(jobs=1, threads=1)))
    assert torch.get_num_threads() == before
    two = pd.read_csv(predict(run, source, tmp_path / "b.csv", PredictConfig(jobs=1, threads=2)))
    np.testing.assert_allclose(one["p_np"], two["p_np"], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="threads"):
        PredictConfig(threads=0)


def test_a_full_disk_is_one_line_naming_the_output_and_leaves_no_partial_file(tiny_run, tmp_path, monkeypatch):
    """The kernel reports a full disk at fsync (or write) with no file name; the line must still say where."""
    from click.testing import CliRunner

    from lgmcl_dgl.cli.main import cli

    run, source = tiny_run
    out = tmp_path / "out" / "pred.csv"

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", full)
        result = CliRunner().invoke(cli, ["predict", str(run), str(source), "-o", str(out), "--jobs", "0"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert f"Error: cannot write {out}: disk full" in result.output.splitlines()
    assert list(out.parent.iterdir()) == []  # neither the output nor its temporary file
    assert CliRunner().invoke(cli, ["predict", str(run), str(source), "-o", str(out), "--jobs", "0"]).exit_code == 0

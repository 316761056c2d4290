"""Several SMILES files joined into one pretraining corpus: order, provenance, reuse."""

from __future__ import annotations

import gzip
import os

import pandas as pd
import pytest

from lgmcl_dgl.data.corpus import CORPUS_FILE, join_sources, locate
from lgmcl_dgl.data.load import InputError

# MOSES test molecules (../shared/data/pretrain/moses_test.csv.gz, MIT)
MOSES = ["CC1C2CCC(C2)C1CN(CCO)C(=O)c1ccc(Cl)cc1", "COc1ccc(-c2cc(=O)c3c(O)c(OC)c(OC)cc3o2)cc1O",
         "CCOC(=O)c1ncn2c1CN(C)C(=O)c1cc(F)ccc1-2", "Clc1ccccc1-c1nc(-c2ccncc2)no1"]


@pytest.fixture
def inputs(tmp_path):
    smi = tmp_path / "a.smi"
    smi.write_text(f"{MOSES[0]}\n\n{MOSES[1]} name\n")  # a blank line is a row
    csv = tmp_path / "b.csv.gz"
    with gzip.open(csv, "wt") as handle:
        handle.write(f"SMILES,SPLIT\n{MOSES[2]},test\nnot_a_smiles,test\n{MOSES[3]},test\n")
    return [smi, csv]


def test_rows_keep_their_order_and_trace_back_to_their_file(inputs, tmp_path):
    corpus = join_sources(inputs, tmp_path / "corpus")
    smiles = pd.read_csv(corpus, dtype=str, keep_default_na=False, skip_blank_lines=False)["smiles"].tolist()
    assert smiles == [MOSES[0], "", MOSES[1], MOSES[2], "not_a_smiles", MOSES[3]]
    assert locate(tmp_path / "corpus", 1) == (str(inputs[0]), 1)
    assert locate(tmp_path / "corpus", 4) == (str(inputs[1]), 1)
    with pytest.raises(IndexError):
        locate(tmp_path / "corpus", 6)


def test_reused_while_unchanged_and_rebuilt_when_a_file_changes(inputs, tmp_path):
    corpus = join_sources(inputs, tmp_path / "corpus")
    os.utime(corpus, (1, 1))
    assert join_sources(inputs, tmp_path / "corpus") == corpus and corpus.stat().st_mtime == 1
    inputs[0].write_text(f"{MOSES[3]}\n")
    join_sources(inputs, tmp_path / "corpus")
    assert pd.read_csv(corpus)["smiles"].tolist()[0] == MOSES[3] and corpus.stat().st_mtime != 1


def test_a_folder_among_several_inputs_is_a_clear_error(inputs, tmp_path):
    with pytest.raises(InputError, match="several inputs must each be a SMILES file or CSV"):
        join_sources([inputs[0], tmp_path], tmp_path / "corpus")
    assert not (tmp_path / "corpus" / CORPUS_FILE).exists()

"""A tiny fine-tuned run on a BBBP slice, shared by the evaluate and predict tests."""

from __future__ import annotations

import pytest
from tiny_finetune import slice_csv, tiny_config

from lgmcl_dgl.finetune import finetune


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, moleculenet):
    """Two seeds on 80 BBBP molecules plus one invalid row; returns (run dir, input CSV)."""
    root = tmp_path_factory.mktemp("tiny_run")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LGMCL_CACHE", str(root / "cache"))
        source = slice_csv(moleculenet / "BBBP.csv", root / "bbbp80.csv", 80, ("999,broken,1,C1CC((",))
        run = finetune(source, root / "run", tiny_config(seeds=[0, 1], target_columns=["p_np"]))
    return run, source

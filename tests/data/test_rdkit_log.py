"""RDKit's messages during a run go to its log file with one summary line, not to the console one by one.

Each check runs in a fresh Python: RDKit's logging state is per process, and another test may have set it.
"""

import subprocess
import sys

from child_process import child_env
from tiny_finetune import slice_csv

WARNING = "not removing hydrogen atom without neighbors"
SALT = "CN[C@H]1CC[C@@H](c2ccc(Cl)c(Cl)c2)c2ccccc21.[Cl-].[H+]"  # BBBP row 60: RDKit warns on each parse


def _python(script: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", script], env=child_env(), capture_output=True, text=True,
                          timeout=600)


def test_messages_inside_are_kept_in_the_file_and_counted(tmp_path):
    log = tmp_path / "run.log"
    script = (f"import logging; logging.basicConfig(level=logging.INFO, format='%(message)s')\n"
              f"from rdkit import Chem\nfrom lgmcl_dgl.data.rdkit_log import rdkit_messages_logged\n"
              f"with rdkit_messages_logged({str(log)!r}):\n"
              f"    for _ in range(3): Chem.MolFromSmiles({SALT!r})\n")
    first = _python(script)
    assert first.returncode == 0, first.stderr
    assert WARNING not in first.stderr.replace(f"'WARNING: {WARNING}'", "")  # only in the summary
    assert f"RDKit: 3 messages (3x 'WARNING: {WARNING}'), in {log}" in first.stderr
    assert log.read_text().splitlines() == [f"rdkit WARNING {WARNING}"] * 3
    again = _python(script)  # a resumed run appends, and counts only its own messages
    assert "RDKit: 3 messages" in again.stderr and len(log.read_text().splitlines()) == 6


def test_a_finetune_keeps_rdkits_messages_in_its_log_and_prints_one_line(moleculenet, tmp_path):
    source = slice_csv(moleculenet / "BBBP.csv", tmp_path / "bbbp70.csv", 70)  # row 60 is a salt RDKit warns on
    run = tmp_path / "run"
    script = ("import logging; logging.basicConfig(level=logging.INFO, format='%(message)s')\n"
              "from tiny_finetune import tiny_config; from lgmcl_dgl.finetune import finetune\n"
              f"finetune({str(source)!r}, {str(run)!r}, tiny_config(target_columns=['p_np'], epochs=1, "
              "split='scaffold', modalities=['local', 'fingerprints']))\n")
    done = _python(script)
    assert done.returncode == 0, done.stderr[-3000:]
    assert not [line for line in done.stderr.splitlines() if WARNING in line and not line.startswith("RDKit: ")]
    lines = (run / "run.log").read_text().splitlines()
    assert f"rdkit WARNING {WARNING}" in lines
    summaries = [line for line in done.stderr.splitlines() if line.startswith("RDKit: ")]
    assert summaries == [f"RDKit: {len(lines)} messages " + summaries[0].split(" messages ", 1)[1]]

"""The openai backend against a real chat-completions server on 127.0.0.1 (tests/text/conftest.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from rdkit import Chem

from lgmcl_dgl.data.artifacts import Manifest
from lgmcl_dgl.text.augment import RECORDS, AugmentConfig, augment, load_descriptions
from lgmcl_dgl.text.backends import BackendError
from lgmcl_dgl.text.describe import describe

N_VALID = 38  # bbbp_slice: 40 rows, 2 invalid


def _config(server, tmp_path: Path, **overrides) -> AugmentConfig:
    options = {"model": "test-model", "base_url": server.base_url, "concurrency": 4, "timeout": 2.0,
               "max_retries": 3, "backoff": 0.01, "cache": str(tmp_path / "answers.sqlite")}
    options.update(overrides.pop("options", {}))
    return AugmentConfig(backend="openai", options=options, progress=False, **overrides)


def _canonical(smiles: str) -> str:
    return Chem.MolToSmiles(Chem.MolFromSmiles(smiles))


def test_describes_every_molecule_and_never_writes_the_key(bbbp_slice, tmp_path, chat_server, monkeypatch):
    monkeypatch.setenv("LGMCL_TEST_KEY", "sk-secret-do-not-store")
    server = chat_server()
    out = augment(bbbp_slice, tmp_path / "aug", _config(server, tmp_path, options={"api_key_env": "LGMCL_TEST_KEY"}))
    records = load_descriptions(out)
    assert len(records) == N_VALID
    assert all(r.backend == "openai" and r.model == "test-model" and not r.fallback for r in records.values())
    assert set(server.authorization) == {"Bearer sk-secret-do-not-store"}
    for path in [*out.iterdir(), tmp_path / "answers.sqlite"]:
        assert b"sk-secret" not in path.read_bytes(), path
    assert Manifest.read(out).extra["report"]["ok"] == N_VALID


def test_rerun_is_served_from_the_cache(bbbp_slice, tmp_path, chat_server):
    server = chat_server()
    augment(bbbp_slice, tmp_path / "first", _config(server, tmp_path))
    requests = sum(server.attempts.values())
    out = augment(bbbp_slice, tmp_path / "second", _config(server, tmp_path))
    assert sum(server.attempts.values()) == requests == N_VALID
    assert Manifest.read(out).extra["report"]["cached"] == N_VALID


@pytest.mark.parametrize("first_answer, reason", [
    (("content", "Sure! {\"basic_identity\": {\"core_scaffold\": "), "malformed JSON"),
    (("content", "{\"basic_identity\": {}}"), "schema violation"),
    (("status", 429), "rate limited"),
    (("status", 503), "server error"),
])
def test_transient_failures_are_retried(bbbp_slice, tmp_path, chat_server, first_answer, reason):
    server = chat_server(lambda smiles, attempt: first_answer if attempt == 1 else ("ok", None))
    out = augment(bbbp_slice, tmp_path / "aug", _config(server, tmp_path))
    assert len(load_descriptions(out)) == N_VALID, reason
    report = Manifest.read(out).extra["report"]
    assert report["retried"] == N_VALID and report["failed"] == 0


def test_slow_answers_past_the_timeout_are_retried(tmp_path, chat_server):
    smiles = ["CC(=O)Oc1ccccc1C(=O)O", "CCN", "c1ccncc1"]
    path = tmp_path / "three.smi"
    path.write_text("\n".join(smiles) + "\n")
    server = chat_server(lambda s, attempt: ("sleep", 1.5) if attempt == 1 else ("ok", None))
    started = time.perf_counter()
    out = augment(path, tmp_path / "aug", _config(server, tmp_path, options={"timeout": 0.4}))
    assert time.perf_counter() - started < 5
    assert len(load_descriptions(out)) == 3
    assert Manifest.read(out).extra["report"]["retried"] == 3


def test_retry_after_is_honoured(tmp_path, chat_server):
    path = tmp_path / "one.smi"
    path.write_text("CCN\n")
    server = chat_server(lambda s, attempt: ("retry-after", 1) if attempt == 1 else ("ok", None))
    out = augment(path, tmp_path / "aug", _config(server, tmp_path))
    assert len(load_descriptions(out)) == 1
    first, second = server.times["CCN"]
    assert second - first >= 0.95  # not the 0.01 s backoff


def test_persistent_failures_are_reported_or_fall_back(bbbp_slice, tmp_path, chat_server):
    source = pd.read_csv(bbbp_slice)["smiles"]
    broken = _canonical(source[0])
    server = chat_server(lambda s, attempt: ("status", 500) if s == broken else ("ok", None))
    out = augment(bbbp_slice, tmp_path / "aug", _config(server, tmp_path))
    failed = pd.read_csv(out / "failed.csv")
    assert failed["row"].tolist() == [0] and failed["reason"].tolist() == ["HTTP 500"]
    assert server.attempts[broken] == 4  # 1 + max_retries
    manifest = Manifest.read(out)
    assert manifest.counts["failed"] == 1 and manifest.extra["report"]["failure_reasons"] == {"HTTP 500": 1}
    assert 0 not in load_descriptions(out)

    out = augment(bbbp_slice, tmp_path / "fallback", _config(server, tmp_path, fallback="rdkit"))
    records = load_descriptions(out)
    assert len(records) == N_VALID and records[0].fallback and not records[1].fallback
    assert records[0].description.startswith("Core scaffold: Murcko scaffold")


def test_server_dying_mid_run_then_rerun_completes_exactly_once(bbbp_slice, tmp_path, chat_server):
    served = []

    def dies_after_ten(smiles, attempt):
        served.append(smiles)
        if len(served) == 10:
            threading.Thread(target=server.stop).start()
        return "ok", None

    server = chat_server(dies_after_ten)
    config = _config(server, tmp_path, options={"max_retries": 1})
    out = augment(bbbp_slice, tmp_path / "aug", config)
    n_first = len(load_descriptions(out))
    failed = pd.read_csv(out / "failed.csv")
    assert 0 < n_first < N_VALID and n_first + len(failed) == N_VALID
    assert failed["reason"].str.startswith("connection failed").all()

    revived = chat_server(port=server.port)
    augment(bbbp_slice, out, config)  # same settings: resumes, asks only for what failed
    records = load_descriptions(out)
    assert sorted(records) == [r for r in range(40) if r not in (9, 11)]
    assert sum(revived.attempts.values()) == N_VALID - n_first
    assert len((out / RECORDS).read_text().splitlines()) == N_VALID
    assert not (out / "failed.csv").read_text().strip().splitlines()[1:]


def test_kill_and_resume(bbbp_slice, tmp_path, chat_server):
    """SIGKILL an augment process mid-run; the rerun ends with every molecule described exactly once."""
    server = chat_server(lambda s, attempt: ("sleep", 0.05))
    out = tmp_path / "aug"
    code = (f"from lgmcl_dgl.text.augment import augment, AugmentConfig\n"
            f"augment({str(bbbp_slice)!r}, {str(out)!r}, AugmentConfig(backend='openai', progress=False, "
            f"options={{'model': 'test-model', 'base_url': {server.base_url!r}, 'concurrency': 2, "
            f"'cache': {str(tmp_path / 'answers.sqlite')!r}}}))\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    process = subprocess.Popen([sys.executable, "-c", code], env=env)
    deadline = time.time() + 60
    records = out / RECORDS
    while time.time() < deadline and (not records.is_file() or len(records.read_bytes().splitlines()) < 12):
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    n_before = len(records.read_bytes().splitlines())
    assert 12 <= n_before < N_VALID and not (out / "manifest.json").exists()

    requests_before = sum(server.attempts.values())
    config = AugmentConfig(backend="openai", progress=False, options={
        "model": "test-model", "base_url": server.base_url, "concurrency": 2,
        "cache": str(tmp_path / "answers.sqlite")})
    augment(bbbp_slice, out, config)
    rows = [int(line.split(b",")[0].split(b":")[1]) for line in records.read_bytes().splitlines()]
    assert rows == [r for r in range(40) if r not in (9, 11)]  # each valid row exactly once, in order
    assert Manifest.read(out).counts["resumed"] >= 12
    # answers cached before the kill are not paid again: at most the 2 in flight are asked twice
    assert sum(server.attempts.values()) - requests_before <= N_VALID - n_before + 2
    assert sum(n > 1 for n in server.attempts.values()) <= 2


def test_refused_key_stops_the_run(bbbp_slice, tmp_path, chat_server):
    server = chat_server(lambda s, attempt: ("status", 401))
    with pytest.raises(BackendError, match="HTTP 401"):
        augment(bbbp_slice, tmp_path / "aug", _config(server, tmp_path))


def test_describe_with_openai_backend(tmp_path, chat_server):
    server = chat_server()
    texts = describe(["CCN", "CC(=O)O"], backend="openai", model="test-model", base_url=server.base_url,
                     cache=str(tmp_path / "answers.sqlite"))
    assert texts == describe(["CCN", "CC(=O)O"])  # the test server answers with the rdkit facts


def test_cli_reports_retries_failures_and_fallback(tmp_path, chat_server):
    from click.testing import CliRunner

    from lgmcl_dgl.cli.main import cli

    path = tmp_path / "three.smi"
    path.write_text("CCN\nCC(=O)O\nc1ccncc1\n")
    server = chat_server(lambda s, attempt: ("status", 503) if s == "CCN" else
                         ("status", 429) if attempt == 1 else ("ok", None))
    result = CliRunner().invoke(cli, ["augment", str(path), "-o", str(tmp_path / "aug"), "--backend", "openai",
                                      "--model", "test-model", "--base-url", server.base_url, "--max-retries", "1",
                                      "--cache", str(tmp_path / "answers.sqlite"), "--fallback", "rdkit", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "3 described (0 from cache, 1 by rdkit fallback), 3 needed retries, 0 failed" in result.output
    assert "backend failures: 1 x HTTP 503" in result.output
    assert load_descriptions(tmp_path / "aug")[0].fallback

"""Fixtures for the text tests: a small real slice of BBBP, and a real chat-completions server on 127.0.0.1."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
from rdkit import Chem

from lgmcl_dgl.text.backends.rdkit import describe_mol


@pytest.fixture
def bbbp_slice(moleculenet: Path, tmp_path: Path) -> Path:
    """Rows 50-89 of the real BBBP file; rows 59 and 61 of the original are invalid SMILES (now rows 9 and 11)."""
    frame = pd.read_csv(moleculenet / "BBBP.csv").iloc[50:90]
    path = tmp_path / "bbbp_slice.csv"
    frame[["smiles", "p_np"]].to_csv(path, index=False)
    return path


_SMILES = re.compile(r"Molecule \(SMILES\): (\S+)")


def good_answer(smiles: str) -> str:
    """A schema-valid answer, as a well-behaved LLM would give (facts from RDKit)."""
    return json.dumps(describe_mol(Chem.MolFromSmiles(smiles)))


class ChatServer:
    """An OpenAI-compatible ``/v1/chat/completions`` server whose answer per request is scripted.

    ``behaviour(smiles, attempt)`` returns ``("ok", None)``, ``("status", code)``, ``("content", text)``,
    ``("sleep", seconds)`` (then answers well) or ``("retry-after", seconds)`` (a 429 with that header).
    ``attempt`` counts from 1 per SMILES; ``times`` holds each request's arrival time per SMILES.
    """

    def __init__(self, behaviour: Callable[[str, int], tuple[str, object]] | None = None, port: int = 0):
        self.behaviour = behaviour or (lambda smiles, attempt: ("ok", None))
        self.attempts: Counter = Counter()
        self.times: dict[str, list[float]] = {}
        self.authorization: list[str | None] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # headers and body go in two writes; no 40 ms delayed-ACK stall
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                if self.path != "/v1/chat/completions":
                    self._send(404, {"error": "not found"})
                    return
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                smiles = _SMILES.search(body["messages"][-1]["content"]).group(1)
                with server.lock:
                    server.attempts[smiles] += 1
                    server.times.setdefault(smiles, []).append(time.monotonic())
                    attempt = server.attempts[smiles]
                    server.authorization.append(self.headers.get("Authorization"))
                kind, value = server.behaviour(smiles, attempt)
                if kind in ("status", "retry-after"):
                    headers = {"Retry-After": str(value)} if kind == "retry-after" else {}
                    code = 429 if kind == "retry-after" else int(value)
                    self._send(code, {"error": {"message": "scripted"}}, headers)
                    return
                if kind == "sleep":
                    time.sleep(float(value))
                content = value if kind == "content" else good_answer(smiles)
                self._send(200, {"id": "x", "object": "chat.completion", "model": body["model"],
                                 "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                              "finish_reason": "stop"}]})

            def _send(self, code: int, payload: dict, headers: dict | None = None) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(code)
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def chat_server():
    servers: list[ChatServer] = []

    def start(behaviour=None, port: int = 0) -> ChatServer:
        servers.append(ChatServer(behaviour, port))
        return servers[-1]

    yield start
    for server in servers:
        try:
            server.stop()
        except OSError:
            pass

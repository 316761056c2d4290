from pathlib import Path

from lgmcl_dgl.cli.main import cli
from lgmcl_dgl.cli.reference import render

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_docs_cli_matches_the_commands():
    text = render()
    for name in cli.commands:
        assert f"## lgmcl {name}" in text
    assert DOC.read_text() == text, "docs/cli.md is stale: python -m lgmcl_dgl.cli.reference > docs/cli.md"

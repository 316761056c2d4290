from click.testing import CliRunner

from lgmcl_dgl import __version__
from lgmcl_dgl.cli.main import cli


def test_version_and_help():
    runner = CliRunner()
    assert __version__ in runner.invoke(cli, ["--version"]).output
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0 and "datasets" in result.output

"""Render every command's help as Markdown: ``python -m lgmcl_dgl.cli.reference > docs/cli.md``.

A test compares docs/cli.md with this output, so the reference cannot drift from the code.
"""

from __future__ import annotations

import click

from lgmcl_dgl.cli.main import cli


def render() -> str:
    lines = ["# Command-line reference", "",
             "Generated from the commands' own help by `python -m lgmcl_dgl.cli.reference > docs/cli.md`.", ""]
    width = {"terminal_width": 100, "max_content_width": 100}
    root = click.Context(cli, info_name="lgmcl", **cli.context_settings, **width)
    lines += ["## lgmcl", "", "```", cli.get_help(root), "```", ""]
    for name in sorted(cli.commands):
        command = cli.commands[name]
        ctx = click.Context(command, info_name=name, parent=root, **width)
        lines += [f"## lgmcl {name}", "", "```", command.get_help(ctx), "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")

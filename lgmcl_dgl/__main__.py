from lgmcl_dgl.cli.main import cli

cli()

"""The ``lgmcl`` command: each subcommand parses options and calls one function of the Python API."""

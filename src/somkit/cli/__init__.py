"""The ``somkit`` command: train, apply, plot, report and demo from a terminal.

Every command reads CSV/TSV, Parquet or NPY/NPZ data (see
:mod:`somkit._data`). Errors print one line starting with ``error:`` on
stderr and exit with status 2; ``--debug`` (anywhere on the command line, or
``SOMKIT_DEBUG=1``) prints the traceback instead.

Modules: :mod:`._app` (the group, error handling), :mod:`._options` (option
types and shared options), :mod:`._training` (building and fitting the model),
:mod:`._commands` (fit, predict, info), :mod:`._figures` (plot, report, demo).
Heavy libraries are imported inside the commands only.
"""

from somkit.cli import _commands, _figures  # noqa: F401 - registers the commands
from somkit.cli._app import CliError, cli, main
from somkit.cytometry._cli import cytometry as _cytometry

cli.add_command(_cytometry)

__all__ = ["CliError", "cli", "main"]

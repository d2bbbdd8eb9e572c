"""The ``somkit`` command group and its error handling.

Every failure prints one line starting with ``error:`` on stderr and exits
with status 2; ``--debug`` (anywhere on the command line, or
``SOMKIT_DEBUG=1``) prints the traceback instead. Only click, numpy and the
light registry are imported here, so ``somkit --help`` starts fast.
"""

from __future__ import annotations

import os
import sys
import traceback
import warnings

import click

EXIT_ERROR = 2
# sklearn warns when a model fitted with column names gets a plain array; the
# CLI selects columns by name itself, so the warning says nothing here.
NAMES_WARNING = "X does not have valid feature names"


class CliError(click.ClickException):
    """An error reported as one ``error:`` line with exit status 2."""

    exit_code = EXIT_ERROR


class _Group(click.Group):
    """Turns every failure into one ``error:`` line (exit 2) unless --debug."""

    def main(self, args=None, prog_name=None, standalone_mode=True, **extra):
        args = list(sys.argv[1:] if args is None else args)
        debug = "--debug" in args or os.environ.get("SOMKIT_DEBUG", "") not in ("", "0")
        args = [a for a in args if a != "--debug"]
        if not args:
            args = ["--help"]
        status = 0
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=NAMES_WARNING)
                status = super().main(
                    args, prog_name or "somkit", standalone_mode=False, **extra
                )
        except click.exceptions.Exit as exc:
            status = exc.exit_code
        except click.exceptions.Abort:
            click.echo("error: aborted.", err=True)
            status = 130
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else "somkit"
            msg = exc.format_message().rstrip(".")
            msg = msg[:1].lower() + msg[1:]
            click.echo(f"error: {msg} (see '{where} --help').", err=True)
            status = exc.exit_code
        except KeyboardInterrupt:
            click.echo("error: interrupted.", err=True)
            status = 130
        except Exception as exc:  # noqa: BLE001 - every failure gets one line
            if debug:
                traceback.print_exc()
            click.echo(f"error: {one_line(exc)}", err=True)
            status = EXIT_ERROR
        status = status if isinstance(status, int) else 0
        if standalone_mode:
            sys.exit(status)
        return status


def one_line(exc):
    """The message of ``exc`` on one line (internal errors say so)."""
    if isinstance(exc, click.ClickException):
        text = exc.format_message()
    elif isinstance(exc, ValueError | TypeError | OSError | ImportError | KeyError):
        text = str(exc) if not isinstance(exc, KeyError) else f"missing {exc}"
        if isinstance(exc, OSError) and exc.filename is not None:
            text = f"{exc.strerror or exc}: {exc.filename}"
        if isinstance(exc, ImportError | ModuleNotFoundError) and not text:
            text = f"missing module {exc.name}"
    else:
        text = (
            f"internal error ({type(exc).__name__}: {exc}); run with --debug for "
            "the traceback and please report it"
        )
    from somkit._text import printable

    return printable(" ".join(str(text).split()) or type(exc).__name__)


@click.group(
    name="somkit", cls=_Group, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(package_name="somkit", prog_name="somkit")
@click.option(
    "--debug",
    is_flag=True,
    expose_value=False,
    help="Show the full traceback on errors (also accepted after the command; "
    "or set SOMKIT_DEBUG=1).",
)
def cli():
    """Self-organizing maps from the command line.

    \b
    somkit fit data.csv -o model.npz        train a map
    somkit report data.csv -o report/       train and write an HTML report
    somkit predict model.npz data.csv       best-matching unit of each row
    somkit plot model.npz --kind umatrix -o umatrix.png
    somkit info model.npz                   what a model file holds
    somkit demo all -o demo-output/         the seed applications

    DATA is a .csv/.tsv/.txt (optionally .gz), .parquet, .npy or .npz file.
    """


def main(args=None):
    """Entry point of the ``somkit`` script."""
    return cli.main(args=args, prog_name="somkit")

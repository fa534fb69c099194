"""The command line: one module per command in :mod:`blurwatch.commands`, one :func:`main`.

:func:`main` parses the arguments, configures logging, loads the configuration once
and runs the command. Expected failures (:class:`blurwatch.errors.BlurwatchError`)
become one line on stderr and an exit status (2 for configuration and usage errors, 1
otherwise); a traceback is shown only with ``-v``. Anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import io
import logging
import os
import sys
import traceback
from types import ModuleType

from blurwatch import __version__, commands
from blurwatch import config as config_mod
from blurwatch.errors import BlurwatchError, ConfigError, UsageError, one_line

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

# syslog priorities, which journald reads from a "<N>" line prefix.
_JOURNAL_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


def main(argv: list[str] | None = None) -> int:
    """Run blurwatch with ``argv`` (default: the process arguments); returns the exit status."""
    try:
        args = parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # argparse has printed usage or help
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    verbose = args.verbose > 0
    setup_logging(args.verbose, args.quiet)
    if isinstance(sys.stdout, io.TextIOWrapper):  # a file name that is not UTF-8 prints escaped, never fails
        sys.stdout.reconfigure(errors="backslashreplace")
    try:
        config = config_mod.load(args.config)
        status: int = args.run(args, config)
        return status
    except (ConfigError, UsageError) as exc:
        return _report(exc, EXIT_USAGE, verbose)
    except BlurwatchError as exc:
        return _report(exc, EXIT_FAILED, verbose)
    except KeyboardInterrupt:
        print("blurwatch: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # whoever read the output stopped (| head): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to flush at exit
        return EXIT_FAILED


def build_parser() -> argparse.ArgumentParser:
    """The parser with every registered command as a subcommand."""
    parser = argparse.ArgumentParser(
        prog="blurwatch",
        description="Cull blurry, dark and overexposed photos into XMP sidecars "
        "that darktable, digiKam and Lightroom read.",
        epilog=f"'blurwatch --once PATH...' is short for 'blurwatch once PATH...'; "
        f"'blurwatch' alone runs '{commands.DEFAULT}'.",
    )
    parser.add_argument("--version", action="version", version=f"blurwatch {__version__}")
    _add_common_options(parser, argparse.SUPPRESS)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules():
        sub = module.add_parser(subparsers)
        _add_common_options(sub, argparse.SUPPRESS)
        sub.set_defaults(run=module.run)
    return parser


def setup_logging(verbosity: int, quiet: bool) -> None:
    """Log to stderr: with timestamps on a terminal, plain with priorities under systemd.

    On a terminal only warnings show by default (the progress bar and the summary say
    the rest); under systemd the journal is the record, so each photo's line shows too.
    """
    handler = logging.StreamHandler(sys.stderr)
    if under_systemd():
        handler.setFormatter(_JournalFormatter("%(name)s: %(message)s"))
    else:
        handler.setFormatter(_OneLineFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.WARNING)
    if quiet:
        level = logging.ERROR
    elif verbosity >= 2:
        level = logging.DEBUG
    elif verbosity == 1 or under_systemd():
        level = logging.INFO
    else:
        level = logging.WARNING
    logging.getLogger("blurwatch").setLevel(level)


def under_systemd() -> bool:
    """True when stderr goes to the journal (journald adds its own timestamps)."""
    return bool(os.environ.get("JOURNAL_STREAM") or os.environ.get("INVOCATION_ID"))


class _OneLineFormatter(logging.Formatter):
    """A log entry's message on one line, whatever file names it holds (a traceback keeps its lines)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = one_line(record.message)
        return super().formatMessage(record)


class _JournalFormatter(_OneLineFormatter):
    def format(self, record: logging.LogRecord) -> str:
        priority = _JOURNAL_PRIORITY.get(record.levelno, 6)
        return f"<{priority}>{super().format(record)}"


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse ``argv`` with ``--once`` as a command and the default command when none is given."""
    argv = _once_flag_as_command(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        if commands.DEFAULT not in commands.COMMANDS:
            parser.error(f"no command given (the default '{commands.DEFAULT}' is not installed)")
        args = parser.parse_args(argv + [commands.DEFAULT])
    for name, value in (("config", None), ("verbose", 0), ("quiet", False)):
        if not hasattr(args, name):
            setattr(args, name, value)
    return args


def _once_flag_as_command(argv: list[str]) -> list[str]:
    """``blurwatch [options] --once PATH...`` becomes ``blurwatch [options] once PATH...``."""
    if "--once" not in argv:
        return argv
    at = argv.index("--once")
    if any(arg in commands.COMMANDS for arg in argv[:at]):
        return argv
    return argv[:at] + ["once"] + argv[at + 1 :]


def _add_common_options(parser: argparse.ArgumentParser, default: str) -> None:
    """Options every command takes, before or after its name (SUPPRESS: the last one given wins)."""
    parser.add_argument("-c", "--config", metavar="FILE", default=default,
                        help="configuration file (default: ~/.config/blurwatch/config.yaml, then /etc/blurwatch)")
    parser.add_argument("-v", "--verbose", action="count", default=default,
                        help="log more: -v each photo, -vv debugging; errors with tracebacks")
    parser.add_argument("-q", "--quiet", action="store_true", default=default,
                        help="log only errors; print only the failures")


def _command_modules() -> list[ModuleType]:
    return [importlib.import_module(f"blurwatch.commands.{name}") for name in commands.COMMANDS]


def _report(exc: BlurwatchError, status: int, verbose: bool) -> int:
    if verbose:
        traceback.print_exception(exc, file=sys.stderr)
    print(f"blurwatch: {one_line(str(exc))}", file=sys.stderr)
    return status

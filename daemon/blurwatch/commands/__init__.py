"""blurwatch's commands, one module each (beets style).

Each module has ``add_parser(subparsers) -> argparse.ArgumentParser``, which adds the
command's subparser and its own options, and ``run(args, config) -> int``, which does
the work and returns the exit status. :mod:`blurwatch.cli` adds the common options
(``--config``, ``-v``, ``-q``) and turns expected errors into one line.

To add a command, write ``commands/NAME.py`` and list NAME here (the order is the order
in ``blurwatch --help``).
"""

COMMANDS: tuple[str, ...] = (
    "once", "watch", "status", "score", "verdict", "report", "calibrate", "service", "plugin", "demo",
)

# What plain ``blurwatch`` runs.
DEFAULT = "watch"

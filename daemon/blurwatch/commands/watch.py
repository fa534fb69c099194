"""``blurwatch watch [DIR...]`` (and plain ``blurwatch``): the daemon.

Watches the folders given, or ``watch.folders`` from the configuration, until SIGTERM
or SIGINT; SIGHUP re-reads the same configuration file with the same command-line
overrides. The work is :func:`blurwatch.daemon.run`.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path
from typing import Any

from blurwatch import config as config_mod
from blurwatch import daemon
from blurwatch.commands.jobs import positive_int
from blurwatch.config import Config


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "watch",
        help="watch folders and score new photos as they arrive (the default command)",
        description="Watch folders recursively and write a verdict into the sidecar of every new or "
        "changed photo, once it has been completely written. Photos that arrived while blurwatch was not "
        "running are caught up at start. Stop with SIGTERM or Ctrl-C; SIGHUP reloads the configuration.",
    )
    parser.add_argument("folders", nargs="*", type=Path, metavar="DIR",
                        help="folders to watch (default: watch.folders from the configuration)")
    parser.add_argument("--poll", action="store_true",
                        help="poll instead of using inotify (network shares, FUSE mounts)")
    parser.add_argument("-j", "--jobs", type=positive_int, metavar="N",
                        help="worker processes (default: 'jobs' from the config, else one per CPU core)")
    return parser


def run(args: argparse.Namespace, config: Config) -> int:
    def reload_config() -> Config:
        return with_options(config_mod.load(getattr(args, "config", None)), args)

    show_each_photo(args)
    return daemon.run(with_options(config, args), args.folders, reload_config)


def show_each_photo(args: argparse.Namespace) -> None:
    """The daemon's one line per photo is its output, so it shows on a terminal too.

    (Other commands keep a terminal to warnings and print a summary instead; under
    systemd the CLI already logs at INFO.)
    """
    chatty = logging.getLogger("blurwatch")
    if not getattr(args, "quiet", False) and chatty.getEffectiveLevel() > logging.INFO:
        chatty.setLevel(logging.INFO)


def with_options(config: Config, args: argparse.Namespace) -> Config:
    """The configuration with this command's options applied over it."""
    if args.poll:
        config = config.replace(watch=dataclasses.replace(config.watch, poll=True))
    if args.jobs:
        config = config.replace(jobs=args.jobs)
    return config

"""``blurwatch watch``: its options over the configuration (the daemon itself: tests/test_daemon.py)."""

from __future__ import annotations

import dataclasses

from blurwatch import cli
from blurwatch.commands import watch
from blurwatch.config import Config


def test_options_override_the_configuration_and_nothing_else() -> None:
    config = Config(jobs=3)
    assert watch.with_options(config, cli.parse_args(["watch", "/photos"])) == config
    changed = watch.with_options(config, cli.parse_args(["watch", "--poll", "-j", "2", "/photos"]))
    assert changed.watch.poll and changed.jobs == 2
    assert dataclasses.replace(changed.watch, poll=False) == config.watch

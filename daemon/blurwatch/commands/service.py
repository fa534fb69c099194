"""``blurwatch service install|uninstall``: the watch daemon as a systemd user service.

``install`` writes ``$XDG_CONFIG_HOME/systemd/user/blurwatch.service`` from the unit
shipped in the package, filled in with what only this machine knows: the absolute path
of the blurwatch program running now (a virtualenv's, pipx's, a checkout's ``.venv``),
the folders to watch (``--folders``, else ``watch.folders``; none is refused, since the
daemon would only exit), the configuration file in use now (``--config``, or the one
found in the standard places), and the state folder ``blurwatch status`` reads. The
unit's sandbox is read-only but for the folders it lists, which must exist when it
starts, so install creates them. When a systemd user manager answers, it reloads it and
enables and (re)starts the service; otherwise it says what to run. Running it again
rewrites the unit (new folders) and restarts the service.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from blurwatch import files
from blurwatch.config import Config
from blurwatch.errors import UsageError

UNIT = "blurwatch.service"
SYSTEMCTL_TIMEOUT = 60  # seconds: enabling and starting the unit waits for READY=1


@dataclass(frozen=True)
class Systemctl:
    """What running ``systemctl --user`` came to."""

    ok: bool
    message: str  # its first line of complaint, when not ok


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "service",
        help="install or remove the watch daemon as a systemd user service",
        description="Install the watch daemon as a systemd user service (written for the blurwatch "
        "program running now, watching the folders given or watch.folders from the configuration), "
        "or remove it.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    install = actions.add_parser("install", help="write the unit, enable and start it",
                                 description="Write ~/.config/systemd/user/blurwatch.service for this blurwatch, "
                                 "create the folders it needs, then enable and start it when systemd runs here.")
    install.add_argument("--folders", nargs="+", type=Path, metavar="DIR",
                         help="folders to watch (default: watch.folders from the configuration)")
    install.add_argument("--no-start", action="store_true", help="write the unit only; do not enable or start it")
    actions.add_parser("uninstall", help="stop, disable and remove the unit",
                       description="Stop and disable the blurwatch user service and remove its unit file.")
    return parser


def run(args: argparse.Namespace, config: Config) -> int:
    if args.action == "install":
        return install(args, config)
    return uninstall()


def unit_path() -> Path:
    """Where systemd looks for a user's own units (it honours ``$XDG_CONFIG_HOME``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "systemd" / "user" / UNIT


def install(args: argparse.Namespace, config: Config) -> int:
    folders = [Path(os.path.abspath(Path(f).expanduser())) for f in (args.folders or config.watch.folders)]
    if not folders:
        raise UsageError("no folders to watch: give them with 'blurwatch service install --folders DIR...' "
                         f"or set watch.folders in {_config_file(config)}")
    state = config.watch.state_path()
    for folder in [*folders, state]:
        if not folder.is_dir():
            folder.mkdir(parents=True)
            print(f"created {folder}")
    target = unit_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    config_file = _config_in_use(args, config)
    unit = render_unit(program(), folders, state, config_file, state_from_environment=not config.watch.state_dir)
    files.replace(target, unit.encode("utf-8"))
    print(f"wrote {target}\n  runs     {' '.join(program())}\n  watches  {', '.join(map(str, folders))}"
          f"\n  config   {config_file or 'none yet (the defaults; ~/.config/blurwatch/config.yaml once written)'}")
    by_hand = "systemctl --user daemon-reload && systemctl --user enable --now blurwatch"
    if args.no_start:
        print(f"to start it: {by_hand}")
        return 0
    return _systemctl_steps([["daemon-reload"], ["enable", UNIT], ["restart", UNIT]], by_hand,
                            "enabled and started blurwatch; follow it with: journalctl --user -u blurwatch -f")


def uninstall() -> int:
    target = unit_path()
    if not target.exists():
        print(f"no blurwatch user service is installed ({target} does not exist)")
        return 0
    status = _systemctl_steps([["disable", "--now", UNIT]], "systemctl --user disable --now blurwatch",
                              "stopped and disabled blurwatch")
    target.unlink()
    print(f"removed {target}")
    _systemctl(["daemon-reload"])
    return status


def program() -> list[str]:
    """The command that runs this blurwatch: its script's absolute path, else this Python with ``-m``.

    ``sys.argv[0]`` is the script the shell found (``.venv/bin/blurwatch``, pipx's link);
    under ``python -m blurwatch`` it is the package's ``__main__.py``, and the script
    beside this Python, if any, is the same installation.
    """
    script = Path(sys.argv[0])
    if script.name == "blurwatch" and script.is_file():
        return [os.path.abspath(script)]
    beside = Path(sys.executable).with_name("blurwatch")
    if beside.is_file():
        return [str(beside)]
    return [os.path.abspath(sys.executable), "-m", "blurwatch"]


def render_unit(command: list[str], folders: list[Path], state: Path, config_file: Path | None,
                state_from_environment: bool) -> str:
    """The unit file's text: the packaged template with this machine's paths, quoted for systemd.

    With ``state_from_environment`` (no ``watch.state_dir`` configured) the unit sets
    ``XDG_STATE_HOME`` so that the service keeps its state where ``blurwatch status`` in
    this shell looks.
    """
    words = [*command, *(["--config", str(config_file)] if config_file else []), "watch", *map(str, folders)]
    environment = ""
    if state_from_environment:
        environment = f"Environment={_quoted('XDG_STATE_HOME=' + str(state.parent), command=False)}\n"
    template = (resources.files("blurwatch") / UNIT).read_text(encoding="utf-8")
    return template.format(
        exec_start=" ".join(_quoted(word) for word in words),
        state_dir=_quoted(str(state)),
        read_write_paths=" ".join(_quoted(str(path), False) for path in [*folders, state]),
        environment=environment,
    )


def _quoted(word: str, command: bool = True) -> str:
    """One word of a unit file line: quoted, systemd's specifiers (%) escaped, and in a command its variables ($)."""
    escaped = word.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'"{escaped.replace("$", "$$") if command else escaped}"'


def _config_in_use(args: argparse.Namespace, config: Config) -> Path | None:
    """The configuration file loaded now, by absolute path; None when only the defaults apply."""
    source = Path(getattr(args, "config", None) or config.source).expanduser()
    return Path(os.path.abspath(source)) if source.is_file() else None


def _config_file(config: Config) -> str:
    return config.source if Path(config.source).is_file() else "~/.config/blurwatch/config.yaml"


def _systemctl_steps(steps: list[list[str]], by_hand: str, done: str) -> int:
    """Run ``systemctl --user`` steps in order, or say what to run when no user manager answers here.

    No manager (a container, a chroot, a shell reached with plain ``su``) is not an error:
    the unit is written, and ``by_hand`` is what to run in a login session. A manager
    that refuses a step is one (exit status 1).
    """
    for step in steps:
        result = _systemctl(step)
        if result.ok:
            continue
        if _reachable():
            print(f"systemctl --user {' '.join(step)} failed: {result.message}\n"
                  "  see: systemctl --user status blurwatch; journalctl --user -u blurwatch")
            return 1
        print(f"no systemd user manager answers here ({result.message}); in your login session, run:\n  {by_hand}")
        return 0
    print(done)
    return 0


def _systemctl(arguments: list[str]) -> Systemctl:
    if shutil.which("systemctl") is None:
        return Systemctl(False, "systemctl is not installed")
    try:
        done = subprocess.run(["systemctl", "--user", *arguments], capture_output=True, text=True,
                              timeout=SYSTEMCTL_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return Systemctl(False, f"no answer within {SYSTEMCTL_TIMEOUT} s")
    lines = (done.stderr or done.stdout).strip().splitlines()
    return Systemctl(done.returncode == 0, lines[0] if lines else f"exit status {done.returncode}")


def _reachable() -> bool:
    """Whether a systemd user manager answers here (not in a container, a chroot, over plain su)."""
    return _systemctl(["show-environment"]).ok


"""``blurwatch plugin install|uninstall darktable|lightroom``: the plugins shipped in the package.

The darktable script is copied into darktable's configuration folder
(``$XDG_CONFIG_HOME/darktable``, else ``~/.config/darktable``) as ``lua/blurwatch/``,
with ``installed.lua`` beside it recording the absolute path of the blurwatch program
running now (darktable started from a desktop launcher may not have the shell's PATH),
and one ``require "blurwatch/blurwatch"`` line in its ``luarc``. Running it again
changes only what differs (an upgraded script, another blurwatch) and says what it
changed; ``uninstall`` removes the folder and the line. A copy rather than a link: the
script keeps working while the package is reinstalled, and ``install`` brings it up to
date.

Lightroom Classic keeps plug-ins wherever the user adds them in its Plug-in Manager, so
for it the command prints where the plug-in is and what to do.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

from blurwatch import files
from blurwatch.commands.service import program
from blurwatch.config import Config

REQUIRE = 'require "blurwatch/blurwatch"'
# Any form of that require: quotes of either kind, with or without parentheses, not commented out.
_REQUIRE_LINE = re.compile(r"""^\s*require\s*\(?\s*["']blurwatch/blurwatch["']\s*\)?\s*;?\s*$""")
INSTALLED = "installed.lua"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "plugin",
        help="install or remove the darktable plugin (and show where the Lightroom one is)",
        description="Install the darktable Lua plugin shipped with blurwatch into darktable's configuration "
        "(it then runs this blurwatch), or remove it. For Lightroom Classic, say where its plug-in is.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action, words in (("install", "install the plugin for"), ("uninstall", "remove the plugin from")):
        sub = actions.add_parser(action, help=f"{words} darktable or Lightroom")
        sub.add_argument("program", choices=("darktable", "lightroom"), help="the photo program")
    return parser


def run(args: argparse.Namespace, config: Config) -> int:
    if args.program == "lightroom":
        print(lightroom_steps(args.action))
        return 0
    changes = install_darktable(darktable_config()) if args.action == "install" else uninstall_darktable(
        darktable_config())
    for change in changes or ["nothing to change: " + ("already installed" if args.action == "install"
                                                        else "not installed")]:
        print(change)
    if changes:
        print("restart darktable for it to take effect")
    return 0


def darktable_config() -> Path:
    """darktable's configuration folder, as darktable finds it (without ``--configdir``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "darktable"


def shipped(name: str) -> Path:
    """A plugin's folder inside the installed package."""
    return Path(str(resources.files("blurwatch") / "plugins" / name))


def install_darktable(config_dir: Path) -> list[str]:
    """Copy the script, record this blurwatch, require it once in luarc; what changed, one line each."""
    target = config_dir / "lua" / "blurwatch"
    changes = []
    if target.is_symlink():  # the earlier manual install linked a checkout's plugin folder
        target.unlink()
        changes.append(f"replaced the link {target} with a copy")
    source = shipped("darktable")
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        changes += _copy_if_changed(path, target / path.relative_to(source))
    command = program()
    if len(command) == 1:
        changes += _write_if_changed(target / INSTALLED, _lua_table(executable=command[0]).encode("utf-8"),
                                     f"recorded the blurwatch program {command[0]} in")
    else:  # run as `python -m blurwatch`: no one program to record
        changes.append("no blurwatch program to record (run as python -m): set it in darktable's "
                       "preferences > lua options > blurwatch: executable")
    changes += _require_once(config_dir / "luarc")
    return changes


def uninstall_darktable(config_dir: Path) -> list[str]:
    """Remove the script's folder and its require line; what changed, one line each."""
    target = config_dir / "lua" / "blurwatch"
    changes = []
    if target.is_symlink() or target.is_file():
        target.unlink()
        changes.append(f"removed {target}")
    elif target.is_dir():
        shutil.rmtree(target)
        changes.append(f"removed {target}")
    luarc = config_dir / "luarc"
    if luarc.is_file():
        lines = luarc.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [line for line in lines if not _REQUIRE_LINE.match(line)]
        if kept != lines:
            files.replace(luarc, "".join(kept).encode("utf-8"))
            changes.append(f"removed {REQUIRE} from {luarc}")
    return changes


def lightroom_steps(action: str) -> str:
    plugin = shipped("lightroom") / "blurwatch.lrplugin"
    if action == "uninstall":
        return ("Lightroom Classic: File > Plug-in Manager, select blurwatch, Remove. "
                "(Lightroom keeps plug-ins in its catalog's settings; nothing here to remove.)")
    return (f"Lightroom Classic installs plug-ins from where they are:\n"
            f"  1. File > Plug-in Manager > Add, and choose the folder {plugin}\n"
            f"  2. in the plug-in's section, set the blurwatch program to {' '.join(program())}")


def _copy_if_changed(source: Path, target: Path) -> list[str]:
    return _write_if_changed(target, source.read_bytes(), "installed")


def _write_if_changed(target: Path, data: bytes, verb: str) -> list[str]:
    if target.is_file() and target.read_bytes() == data:
        return []
    existed = target.exists()
    target.parent.mkdir(parents=True, exist_ok=True)
    files.replace(target, data)
    return [f"{'updated' if existed and verb == 'installed' else verb} {target}"]


def _require_once(luarc: Path) -> list[str]:
    """Exactly one line loading the script; a second one (the old one-liner run twice) goes."""
    lines = luarc.read_text(encoding="utf-8").splitlines(keepends=True) if luarc.is_file() else []
    requires = [i for i, line in enumerate(lines) if _REQUIRE_LINE.match(line)]
    if len(requires) == 1:
        return []
    if requires:
        kept = [line for i, line in enumerate(lines) if i not in requires[1:]]
        files.replace(luarc, "".join(kept).encode("utf-8"))
        return [f"removed {len(requires) - 1} repeated {REQUIRE} from {luarc}"]
    ending = "" if not lines or lines[-1].endswith("\n") else "\n"
    luarc.parent.mkdir(parents=True, exist_ok=True)
    files.replace(luarc, ("".join(lines) + ending + REQUIRE + "\n").encode("utf-8"))
    return [f"added {REQUIRE} to {luarc}"]


def _lua_table(**values: str) -> str:
    """A Lua file returning ``values`` as strings, in long brackets (no escaping to get wrong)."""
    def literal(text: str) -> str:
        level = 0
        while f"]{'=' * level}]" in text:
            level += 1
        return f"[{'=' * level}[{text}]{'=' * level}]"

    fields = ", ".join(f"{key} = {literal(value)}" for key, value in values.items())
    return f"-- written by `blurwatch plugin install darktable`\nreturn {{ {fields} }}\n"

"""``blurwatch plugin``: the darktable script copied from the package, this blurwatch recorded, luarc kept tidy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from blurwatch.commands import plugin

PROGRAM = Path(sys.executable).with_name("blurwatch")
lupa = pytest.importorskip("lupa", reason="lupa (the [test] extra) runs the recorded Lua")


def run_plugin(config_home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed blurwatch script, as a user runs it."""
    return subprocess.run([str(PROGRAM), "plugin", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "XDG_CONFIG_HOME": str(config_home), "HOME": str(config_home.parent)},
                          stdin=subprocess.DEVNULL)


def test_install_copies_the_script_records_this_blurwatch_and_requires_it_once(tmp_path: Path) -> None:
    config_home = tmp_path / "xdg"  # darktable uses $XDG_CONFIG_HOME/darktable when it is set
    done = run_plugin(config_home, "install", "darktable")
    assert done.returncode == 0, done.stderr
    folder = config_home / "darktable" / "lua" / "blurwatch"
    assert (folder / "blurwatch.lua").read_bytes() == (plugin.shipped("darktable") / "blurwatch.lua").read_bytes()
    assert (folder / "lib" / "json.lua").is_file()
    recorded = lupa.LuaRuntime().execute((folder / "installed.lua").read_text(encoding="utf-8"))
    assert recorded["executable"] == str(PROGRAM) and PROGRAM.is_absolute()
    assert (config_home / "darktable" / "luarc").read_text(encoding="utf-8") == 'require "blurwatch/blurwatch"\n'
    assert f"installed {folder / 'blurwatch.lua'}" in done.stdout
    assert f"added require \"blurwatch/blurwatch\" to {config_home / 'darktable' / 'luarc'}" in done.stdout

    again = run_plugin(config_home, "install", "darktable")
    assert again.stdout == "nothing to change: already installed\n"


def test_an_earlier_manual_install_is_tidied(tmp_path: Path) -> None:
    config = tmp_path / "darktable"
    (config / "lua").mkdir(parents=True)
    (config / "lua" / "blurwatch").symlink_to(tmp_path / "old-checkout-plugin")  # the old one-liner's link
    (config / "luarc").write_text('require "tools/script_manager"\nrequire "blurwatch/blurwatch"\n'
                                  "require 'blurwatch/blurwatch'\n", encoding="utf-8")  # ... run twice
    changes = plugin.install_darktable(config)
    assert changes[0] == f"replaced the link {config / 'lua' / 'blurwatch'} with a copy"
    assert f"removed 1 repeated require \"blurwatch/blurwatch\" from {config / 'luarc'}" in changes
    assert (config / "luarc").read_text() == 'require "tools/script_manager"\nrequire "blurwatch/blurwatch"\n'
    assert not (config / "lua" / "blurwatch").is_symlink()


def test_a_path_with_brackets_is_recorded_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    odd = "/home/me/]] weird ]=]/.venv/bin/blurwatch"
    monkeypatch.setattr(plugin, "program", lambda: [odd])
    plugin.install_darktable(tmp_path)
    text = (tmp_path / "lua" / "blurwatch" / "installed.lua").read_text(encoding="utf-8")
    assert lupa.LuaRuntime().execute(text)["executable"] == odd


def test_uninstall_removes_the_script_and_its_line_only(tmp_path: Path) -> None:
    config = tmp_path / "darktable"
    plugin.install_darktable(config)
    (config / "luarc").write_text('require "blurwatch/blurwatch"\nrequire "tools/script_manager"\n')
    assert plugin.uninstall_darktable(config) == [f"removed {config / 'lua' / 'blurwatch'}",
                                                  f"removed require \"blurwatch/blurwatch\" from {config / 'luarc'}"]
    assert (config / "luarc").read_text() == 'require "tools/script_manager"\n'
    assert plugin.uninstall_darktable(config) == []


def test_lightroom_is_told_where_the_plugin_is(tmp_path: Path) -> None:
    done = run_plugin(tmp_path / "xdg", "install", "lightroom")
    assert done.returncode == 0
    shipped = plugin.shipped("lightroom") / "blurwatch.lrplugin"
    assert f"choose the folder {shipped}" in done.stdout and (shipped / "Info.lua").is_file()
    assert f"set the blurwatch program to {PROGRAM}" in done.stdout

"""Configuration: defaults from one file, errors that name key and file."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from blurwatch import config
from blurwatch.config import Config
from blurwatch.errors import ConfigError
from conftest import ROOT

EXAMPLE = ROOT / "config.example.yaml"


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_defaults_are_the_defaults_files_values() -> None:
    assert Config() == config.from_mapping(yaml.safe_load(config.DEFAULTS_FILE.read_text()), "built-in defaults")
    assert Config().watch.folders == () and Config().sharpness.keep_from is None


def test_every_key_of_the_defaults_file_is_commented() -> None:
    """A key, or a run of keys, follows a comment saying what it does."""
    lines = [line.strip() for line in config.DEFAULTS_FILE.read_text(encoding="utf-8").splitlines()]

    def is_key(line: str) -> bool:
        return bool(line) and not line.startswith("#") and not line.endswith(":")

    for i, line in enumerate(lines):
        if is_key(line):
            above = next(lines[j] for j in range(i - 1, -1, -1) if not is_key(lines[j]))
            assert above.startswith("#"), f"{line!r} has no comment"


def test_example_is_the_defaults_file_with_a_header() -> None:
    example = EXAMPLE.read_text(encoding="utf-8")
    defaults = config.DEFAULTS_FILE.read_text(encoding="utf-8")
    header, _, body = example.partition("\n\n")
    assert body == defaults, "config.example.yaml must be its header followed by config_default.yaml"
    assert all(line.startswith("#") for line in header.splitlines())


@pytest.mark.parametrize(
    "table, message",
    [
        ({"size": 3}, "defaults.yaml: demo.name: missing"),
        ({"size": 3, "name": "x", "colour": "red"}, "defaults.yaml: demo.colour: not a setting of Section"),
        ({"size": 0, "name": "x"}, "defaults.yaml: demo.size: must be a positive number, not 0"),
        ({"size": "big", "name": "x"}, "defaults.yaml: demo.size: 'big' is not a whole number"),
    ],
)
def test_a_defaults_file_out_of_step_with_the_fields_stops_the_import(table: dict, message: str) -> None:
    fresh = type("Section", (), {"__annotations__": {"size": "int", "name": "str"},
                                 "size": config.setting(lambda v: v > 0, "a positive number"),
                                 "name": config.setting()})
    with pytest.raises(ConfigError, match=message):
        config.fill_defaults(fresh, table, "demo", "defaults.yaml")


def test_filled_settings_are_the_dataclasses_defaults() -> None:
    fresh = type("Section", (), {"__annotations__": {"size": "int"}, "size": config.setting()})
    filled = dataclasses.dataclass(frozen=True)(config.fill_defaults(fresh, {"size": 7}, "demo", "d.yaml"))
    assert filled().size == 7 and filled(size=2).size == 2


def test_loading_the_example_gives_the_defaults() -> None:
    loaded = config.load(EXAMPLE)
    assert loaded == Config(source=str(EXAMPLE))


def test_a_user_file_overlays_only_what_it_sets(tmp_path: Path) -> None:
    path = write(tmp_path, "sensitivity: 1\nsidecar:\n  naming: both\nwatch:\n  folders: [/photos]\n")
    loaded = config.load(path)
    assert loaded.sensitivity == 1.0 and isinstance(loaded.sensitivity, float)  # an int where a float goes is fine
    assert loaded.sidecar.naming == "both"
    assert loaded.sidecar.keeper_rating == Config().sidecar.keeper_rating
    assert loaded.watch.folders == ("/photos",)
    assert loaded.source == str(path)


def test_an_empty_file_is_all_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "# nothing set\n")
    assert config.load(path) == Config(source=str(path))


@pytest.mark.parametrize(
    "text, key",
    [
        ("sensitivty: 0.5\n", "sensitivty: unknown key"),
        ("decode:\n  working_size: 1000\n", "decode.working_size: unknown key"),
        ("sensitivity: high\n", "sensitivity: 'high' is not a number"),
        ("jobs: 1.5\n", "jobs: 1.5 is not a whole number"),
        ("jobs: true\n", "jobs: True is not a whole number"),
        ("sidecar:\n  naming: lightroom\n", "sidecar.naming: 'lightroom' is not 'darktable' or 'adobe' or 'both'"),
        ("sidecar:\n  keeper_rating: 7\n", "sidecar.keeper_rating: must be 0-5"),
        ("sidecar:\n  overwrite_manual_rating: yes please\n", "sidecar.overwrite_manual_rating:"),
        ("watch:\n  folders: [1]\n", "watch.folders: must be a list of strings, or one string"),
        ("watch: [1, 2]\n", "watch: must be a mapping of keys"),
        ("- a list\n", "top level: must be a mapping of keys"),
        ("sensitivity: 2\n", "sensitivity: must be a number from -1.0 to 1.0, not 2.0"),
        ("jobs: -1\n", "jobs: must be 0 (one per core) or a positive number"),
        ("decode:\n  working_long_side: 100\n", "decode.working_long_side: must be a number of pixels from 256"),
        ("watch:\n  queue_size: 0\n", "watch.queue_size: must be a positive number"),
        ("sharpness:\n  reject_below: 0.8\n  keep_from: 0.5\n", "sharpness.reject_below: must not exceed"),
    ],
)
def test_bad_files_name_the_file_and_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        config.load(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: ")
    assert key in message
    assert "\n" not in message


def test_one_folder_is_a_list_of_one(tmp_path: Path) -> None:
    assert config.load(write(tmp_path, "watch:\n  folders: ~/Pictures\n")).watch.folders == ("~/Pictures",)


def test_a_yaml_error_says_where_and_shows_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "sensitivity: 0.5\nwatch:\n  poll: true\n   folders: [a]\n")
    with pytest.raises(ConfigError) as raised:
        config.load(path)
    first, *picture = str(raised.value).splitlines()
    assert first == f"{path}: line 4, column 11: not valid YAML: mapping values are not allowed here"
    assert picture[0].strip() == "folders: [a]" and picture[1].strip() == "^"


def test_an_explicit_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        config.load(tmp_path / "missing.yaml")


def test_standard_locations_xdg_first_then_etc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config.standard_locations() == [
        tmp_path / "xdg" / "blurwatch" / "config.yaml",
        Path("/etc/blurwatch/config.yaml"),
    ]
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert config.standard_locations()[0] == tmp_path / "home" / ".config" / "blurwatch" / "config.yaml"


def test_the_user_file_is_found_in_the_standard_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (tmp_path / "blurwatch").mkdir()
    user_file = write(tmp_path / "blurwatch", "jobs: 3\n")
    loaded = config.load()
    assert loaded.jobs == 3 and loaded.source == str(user_file)


def test_the_cli_stops_with_one_line_and_status_2_on_a_bad_config(tmp_path: Path) -> None:
    path = write(tmp_path, "sidecar:\n  nameing: adobe\n")
    done = subprocess.run(
        [sys.executable, "-m", "blurwatch", "--config", str(path), "verdict", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"blurwatch: {path}: sidecar.nameing: unknown key (known: "
                                        "keeper_rating, naming, overwrite_manual_rating, review_rating)"]
    assert done.stdout == ""

"""One typed configuration object, built once from YAML and passed down.

The defaults live in ``config_default.yaml`` beside this module (every key, commented);
a user's file overlays them. Every check names the key and the file it came from, so a
typo is a one-line error, never a silent default.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from blurwatch.errors import ConfigError

DEFAULTS_FILE = Path(__file__).with_name("config_default.yaml")

Naming = Literal["darktable", "adobe", "both"]


@dataclass(frozen=True)
class DecodeConfig:
    working_long_side: int = 2000
    raw_preview_min_long_side: int = 1600


@dataclass(frozen=True)
class SharpnessConfig:
    reject_below: float | None = None
    keep_from: float | None = None


@dataclass(frozen=True)
class ExposureConfig:
    dark_ev: float = -1.5
    dark_highlights: int = 250
    very_dark_ev: float = -3.0
    overexposed_ev: float = 1.2
    overexposed_clipped: float = 0.05
    overexposed_shadows: int = 40


@dataclass(frozen=True)
class SidecarConfig:
    naming: Naming = "darktable"
    keeper_rating: Union[int, Literal["unchanged", "by_quality"]] = "unchanged"
    review_rating: Union[int, Literal["unchanged"]] = "unchanged"
    overwrite_manual_rating: bool = False


@dataclass(frozen=True)
class WatchConfig:
    folders: tuple[str, ...] = ()
    poll: bool = False
    poll_interval: float = 5.0
    quiet_seconds: float = 1.0
    settle_seconds: float = 30.0
    queue_size: int = 64
    stop_grace_seconds: float = 10.0
    state_dir: str = ""

    def state_path(self) -> Path:
        """The daemon's state folder, ``$XDG_STATE_HOME/blurwatch`` unless configured."""
        if self.state_dir:
            return Path(self.state_dir).expanduser()
        base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
        return Path(base) / "blurwatch"


@dataclass(frozen=True)
class Config:
    sensitivity: float = 0.0
    jobs: int = 0
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    sharpness: SharpnessConfig = field(default_factory=SharpnessConfig)
    exposure: ExposureConfig = field(default_factory=ExposureConfig)
    sidecar: SidecarConfig = field(default_factory=SidecarConfig)
    watch: WatchConfig = field(default_factory=WatchConfig)
    source: str = "built-in defaults"

    def replace(self, **changes: Any) -> "Config":
        """A copy with top-level fields changed (command-line overrides)."""
        return dataclasses.replace(self, **changes)


# Checks beyond the type: (key path, predicate, what the value must be).
_RANGES: tuple[tuple[str, typing.Callable[[Any], bool], str], ...] = (
    ("sensitivity", lambda v: -1.0 <= v <= 1.0, "a number from -1.0 to 1.0"),
    ("jobs", lambda v: v >= 0, "0 (one per core) or a positive number"),
    ("decode.working_long_side", lambda v: 256 <= v <= 8000, "a number of pixels from 256 to 8000"),
    ("decode.raw_preview_min_long_side", lambda v: v >= 0, "a number of pixels, 0 or more"),
    ("sharpness.reject_below", lambda v: v is None or 0.0 <= v <= 1.0, "null or a number from 0 to 1"),
    ("sharpness.keep_from", lambda v: v is None or 0.0 <= v <= 1.0, "null or a number from 0 to 1"),
    ("exposure.overexposed_clipped", lambda v: 0.0 < v <= 1.0, "a fraction above 0 and at most 1"),
    ("exposure.dark_highlights", lambda v: 0 <= v <= 256, "a level from 0 to 256"),
    ("exposure.overexposed_shadows", lambda v: 0 <= v <= 256, "a level from 0 to 256"),
    ("sidecar.keeper_rating", lambda v: not isinstance(v, int) or 0 <= v <= 5, "0-5, unchanged or by_quality"),
    ("sidecar.review_rating", lambda v: not isinstance(v, int) or 0 <= v <= 5, "0-5 or unchanged"),
    ("watch.poll_interval", lambda v: v > 0, "a positive number of seconds"),
    ("watch.quiet_seconds", lambda v: v >= 0, "0 or more seconds"),
    ("watch.settle_seconds", lambda v: v >= 0, "0 or more seconds"),
    ("watch.queue_size", lambda v: v >= 1, "a positive number"),
    ("watch.stop_grace_seconds", lambda v: v >= 0, "0 or more seconds"),
)


def load(path: Path | str | None = None) -> Config:
    """Load the configuration: ``path`` if given, else the first standard file found.

    An explicitly given file must exist; the standard places are optional.
    """
    if path is not None:
        path = Path(path).expanduser()
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        return from_file(path)
    for candidate in standard_locations():
        if candidate.is_file():
            return from_file(candidate)
    return Config()


def standard_locations() -> list[Path]:
    """Where a configuration file is looked for, first match wins."""
    xdg = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return [Path(xdg) / "blurwatch" / "config.yaml", Path("/etc/blurwatch/config.yaml")]


def from_file(path: Path) -> Config:
    """Parse and check one YAML file; every error names ``path`` and the key."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {_one_line(exc)}") from exc
    return from_mapping(data or {}, source=str(path))


def from_mapping(data: Any, source: str = "config") -> Config:
    """Build a :class:`Config` from a parsed mapping, checking every key and value."""
    config = _build(Config, data, prefix="", source=source)
    for key, ok, expected in _RANGES:
        value = _lookup(config, key)
        if not ok(value):
            raise ConfigError(f"{source}: {key}: must be {expected}, not {value!r}")
    if config.sharpness.reject_below is not None and config.sharpness.keep_from is not None:
        if config.sharpness.reject_below > config.sharpness.keep_from:
            raise ConfigError(f"{source}: sharpness.reject_below: must not exceed sharpness.keep_from")
    return dataclasses.replace(config, source=source)


def defaults_mapping() -> dict[str, Any]:
    """The shipped defaults file, parsed (a test keeps it equal to the dataclass defaults)."""
    return yaml.safe_load(DEFAULTS_FILE.read_text(encoding="utf-8"))


def as_mapping(config: Config) -> dict[str, Any]:
    """The configuration as plain YAML-ready data, without its ``source``."""
    data = dataclasses.asdict(config)
    data.pop("source")
    data["watch"]["folders"] = list(data["watch"]["folders"])
    return data


def _build(cls: type, data: Any, prefix: str, source: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: {prefix.rstrip('.') or 'top level'}: must be a mapping of keys")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls) if f.name != "source"}
    values = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if key not in fields:
            raise ConfigError(f"{source}: {name}: unknown key (known: {', '.join(sorted(fields))})")
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            values[key] = _build(hint, value, f"{name}.", source)
        else:
            values[key] = _coerce(hint, value, name, source)
    return cls(**values)


def _coerce(hint: Any, value: Any, name: str, source: str) -> Any:
    """Check ``value`` against a type hint, converting int to float and lists to tuples."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        for option in typing.get_args(hint):
            try:
                return _coerce(option, value, name, source)
            except ConfigError:
                continue
        raise ConfigError(f"{source}: {name}: {value!r} is not {_describe(hint)}")
    if origin is Literal:
        if value in typing.get_args(hint):
            return value
        raise ConfigError(f"{source}: {name}: {value!r} is not {_describe(hint)}")
    if origin is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{source}: {name}: must be a list of strings")
        return tuple(value)
    if hint is type(None) and value is None:
        return None
    if hint is bool and isinstance(value, bool):
        return value
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is str and isinstance(value, str):
        return value
    raise ConfigError(f"{source}: {name}: {value!r} is not {_describe(hint)}")


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(h) for h in typing.get_args(hint))
    if origin is Literal:
        return " or ".join(repr(v) for v in typing.get_args(hint))
    return {type(None): "null", bool: "true/false", int: "a whole number", float: "a number", str: "text"}.get(
        hint, str(hint)
    )


def _lookup(config: Config, dotted: str) -> Any:
    value: Any = config
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())

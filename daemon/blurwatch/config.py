"""One typed configuration object, built once from YAML and passed down.

The defaults live in ``config_default.yaml`` beside this module (every key, commented),
and only there: a field declared ``= setting(...)`` takes its default from that file
when this module is imported, checked like a user's value; a key of the file without
a field, or a field without a key, stops the import. A user's file overlays the
defaults. Every check names the key and the file it came from, so a typo is a
one-line error, never a silent default.

To add a setting: its key, commented, in ``config_default.yaml`` (``config.example.yaml``
repeats that file), and a typed ``= setting(...)`` field in its section's class, with
the check its value must pass beyond its type.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml

from blurwatch.errors import ConfigError

DEFAULTS_FILE = Path(__file__).with_name("config_default.yaml")

Naming = Literal["darktable", "adobe", "both"]
Check = Callable[[Any], bool]
_Section = TypeVar("_Section", bound=type)


# A setting's default until :func:`defaults` puts the file's value in its place.
_FROM_FILE = object()


def setting(check: Check | None = None, must: str = "") -> Any:
    """A field whose default is in ``config_default.yaml``; ``check`` tests a value beyond its type.

    ``must`` says what a value failing ``check`` must be ("a positive number").
    """
    return field(default=_FROM_FILE, metadata={"check": check, "must": must})


def fill_defaults(cls: _Section, table: Any, section: str, source: str) -> _Section:
    """Give each :func:`setting` of ``cls`` its value in ``table``, checked like a user's.

    ``table`` is the section ``section`` of the defaults file ``source``: it must hold a
    key for every setting, and no key that is neither a setting nor a nested section.
    """
    prefix = f"{section}." if section else ""
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: {section or 'top level'}: must be a mapping of keys")
    hints = typing.get_type_hints(cls)
    settings = {name: value for name, value in vars(cls).items()
                if isinstance(value, dataclasses.Field) and value.default is _FROM_FILE}
    nested = {name for name, hint in hints.items() if dataclasses.is_dataclass(hint)}
    for name, declared in settings.items():
        if name not in table:
            raise ConfigError(f"{source}: {prefix}{name}: missing (every setting has its default here)")
        declared.default = _checked(declared, hints[name], table[name], prefix + name, source)
    extra = sorted(set(table) - set(settings) - nested)
    if extra:
        raise ConfigError(f"{source}: {prefix}{extra[0]}: not a setting of {cls.__name__}")
    return cls


def defaults(section: str) -> Callable[[_Section], _Section]:
    """Class decorator, under ``@dataclass``: the settings' defaults from ``section`` of the file."""

    def fill(cls: _Section) -> _Section:
        table = _DEFAULTS if not section else _DEFAULTS.get(section)
        return fill_defaults(cls, table, section, str(DEFAULTS_FILE))

    return fill


def _read_defaults() -> Any:
    return yaml.safe_load(DEFAULTS_FILE.read_text(encoding="utf-8"))


def _at_least(low: float) -> Check:
    return lambda value: value >= low


def _star_rating(value: Any) -> bool:
    return not isinstance(value, int) or 0 <= value <= 5


def _fraction_or_null(value: Any) -> bool:
    return value is None or 0.0 <= value <= 1.0


def _build(cls: type, data: Any, prefix: str, source: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: {prefix.rstrip('.') or 'top level'}: must be a mapping of keys")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "source"}
    values = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if name in _RETIRED:
            raise ConfigError(f"{source}: {name}: {_RETIRED[name]}")
        if key not in fields:
            raise ConfigError(f"{source}: {name}: unknown key (known: {', '.join(sorted(fields))})")
        hint = hints[key]
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            values[key] = _build(hint, value, f"{name}.", source)
        else:
            values[key] = _checked(fields[key], hint, value, name, source)
    try:
        return cls(**values)
    except ValueError as exc:  # a rule between settings (``__post_init__``), which names the first
        raise ConfigError(f"{source}: {prefix}{exc}") from exc


def _checked(declared: dataclasses.Field[Any], hint: Any, value: Any, name: str, source: str) -> Any:
    """``value`` converted to the field's type and passing the field's own check."""
    value = _coerce(hint, value, name, source)
    check = declared.metadata.get("check")
    if check is not None and not check(value):
        raise ConfigError(f"{source}: {name}: must be {declared.metadata['must']}, not {value!r}")
    return value


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
        if isinstance(value, str):  # `folders: ~/Pictures` means a list of one
            return (value,)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{source}: {name}: must be a list of strings, or one string")
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
    names = {type(None): "null", bool: "true/false", int: "a whole number", float: "a number", str: "text"}
    return names.get(hint, str(hint))


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())

_DEFAULTS = _read_defaults()

# Keys of earlier versions, with what replaced them: a message that helps beats "unknown key".
_RETIRED = dict.fromkeys(
    ("exposure.dark_ev", "exposure.dark_highlights", "exposure.very_dark_ev", "exposure.overexposed_ev",
     "exposure.overexposed_clipped", "exposure.overexposed_shadows"),
    "no longer used: since blurwatch 0.2 a learned model judges exposure; remove the key and use "
    "sensitivity, or exposure.dark_reject_at / overexposed_reject_at and their review_at",
)


@dataclass(frozen=True)
@defaults("decode")
class DecodeConfig:
    working_long_side: int = setting(lambda v: 256 <= v <= 8000, "a number of pixels from 256 to 8000")
    raw_preview_min_long_side: int = setting(_at_least(0), "a number of pixels, 0 or more")
    max_megapixels: float = setting(lambda v: v > 0, "a positive number of megapixels")


@dataclass(frozen=True)
@defaults("sharpness")
class SharpnessConfig:
    reject_below: float | None = setting(_fraction_or_null, "null or a number from 0 to 1")
    keep_from: float | None = setting(_fraction_or_null, "null or a number from 0 to 1")

    def __post_init__(self) -> None:
        if self.reject_below is not None and self.keep_from is not None and self.reject_below > self.keep_from:
            raise ValueError("reject_below: must not exceed sharpness.keep_from")


@dataclass(frozen=True)
@defaults("exposure")
class ExposureConfig:
    dark_reject_at: float | None = setting(_fraction_or_null, "null or a number from 0 to 1")
    dark_review_at: float | None = setting(_fraction_or_null, "null or a number from 0 to 1")
    overexposed_reject_at: float | None = setting(_fraction_or_null, "null or a number from 0 to 1")
    overexposed_review_at: float | None = setting(_fraction_or_null, "null or a number from 0 to 1")

    def __post_init__(self) -> None:
        for fault in ("dark", "overexposed"):
            reject, review = getattr(self, f"{fault}_reject_at"), getattr(self, f"{fault}_review_at")
            if reject is not None and review is not None and review > reject:
                raise ValueError(f"{fault}_review_at: must not exceed exposure.{fault}_reject_at")


@dataclass(frozen=True)
@defaults("sidecar")
class SidecarConfig:
    naming: Naming = setting()
    keeper_rating: int | Literal["unchanged", "by_quality"] = setting(_star_rating, "0-5, unchanged or by_quality")
    review_rating: int | Literal["unchanged"] = setting(_star_rating, "0-5 or unchanged")
    overwrite_manual_rating: bool = setting()


@dataclass(frozen=True)
@defaults("burst")
class BurstConfig:
    enabled: bool = setting()
    gap_seconds: float = setting(lambda v: 0 < v <= 60, "a number of seconds above 0, at most 60")
    likeness_bits: int = setting(lambda v: 0 <= v <= 32, "a number of bits from 0 to 32")
    others: Literal["review", "reject", "unchanged"] = setting()
    quiet_seconds: float = setting(_at_least(0), "0 or more seconds")


@dataclass(frozen=True)
@defaults("watch")
class WatchConfig:
    folders: tuple[str, ...] = setting()
    poll: bool = setting()
    poll_interval: float = setting(lambda v: v > 0, "a positive number of seconds")
    quiet_seconds: float = setting(_at_least(0), "0 or more seconds")
    settle_seconds: float = setting(_at_least(0), "0 or more seconds")
    queue_size: int = setting(_at_least(1), "a positive number")
    stop_grace_seconds: float = setting(_at_least(0), "0 or more seconds")
    state_dir: str = setting()

    def state_path(self) -> Path:
        """The daemon's state folder, ``$XDG_STATE_HOME/blurwatch`` unless configured."""
        if self.state_dir:
            return Path(self.state_dir).expanduser()
        base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
        return Path(base) / "blurwatch"


@dataclass(frozen=True)
@defaults("")
class Config:
    sensitivity: float = setting(lambda v: -1.0 <= v <= 1.0, "a number from -1.0 to 1.0")
    jobs: int = setting(_at_least(0), "0 (one per core) or a positive number")
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    sharpness: SharpnessConfig = field(default_factory=SharpnessConfig)
    exposure: ExposureConfig = field(default_factory=ExposureConfig)
    sidecar: SidecarConfig = field(default_factory=SidecarConfig)
    burst: BurstConfig = field(default_factory=BurstConfig)
    watch: WatchConfig = field(default_factory=WatchConfig)
    source: str = "built-in defaults"

    def replace(self, **changes: Any) -> Config:
        """A copy with top-level fields changed (command-line overrides)."""
        return dataclasses.replace(self, **changes)


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
        raise ConfigError(f"{path}: {_yaml_problem(exc)}") from exc
    return from_mapping(data or {}, source=str(path))


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """Where and what, then the line itself with a caret under the place, as PyYAML shows it.

    "line 3, column 9: not valid YAML: mapping values are not allowed here": squashed
    onto one line, PyYAML's message loses the picture that makes it readable.
    """
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or _one_line(exc)
    if mark is None:
        return f"not valid YAML: {problem}"
    context = getattr(exc, "context", None)
    snippet = mark.get_snippet() if hasattr(mark, "get_snippet") else None
    where = f"line {mark.line + 1}, column {mark.column + 1}: not valid YAML: {problem}"
    return where + (f" ({context})" if context else "") + (f"\n{snippet}" if snippet else "")


def from_mapping(data: Any, source: str = "config") -> Config:
    """Build a :class:`Config` from a parsed mapping, checking every key and value."""
    config: Config = _build(Config, data, prefix="", source=source)
    return dataclasses.replace(config, source=source)

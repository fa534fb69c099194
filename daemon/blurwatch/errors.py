"""The exceptions blurwatch raises on purpose.

Each names the file it is about, so that ``main()`` and the daemon can turn it into one
log line and carry on with the next photo. Anything not derived from
:class:`BlurwatchError` is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


class BlurwatchError(Exception):
    """Base of every expected failure."""


class ConfigError(BlurwatchError):
    """A configuration file or value is wrong; the message names the key and the file."""


class FileError(BlurwatchError):
    """A file cannot be read or written as asked; the message starts with its path."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class PhotoError(FileError):
    """One photo could not be handled; the run goes on with the next one."""


class DecodeError(PhotoError):
    """The photo cannot be decoded: corrupt, truncated, a stub, or decodes to garbage."""


class SidecarError(PhotoError):
    """An existing sidecar cannot be merged into safely; it is left untouched."""


class UsageError(BlurwatchError):
    """The command line asks for something that cannot be done; exit status 2."""


class DaemonError(BlurwatchError):
    """The watch daemon cannot run as asked (another one already uses its state folder)."""

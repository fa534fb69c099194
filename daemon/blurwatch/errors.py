"""The exceptions blurwatch raises on purpose.

Each names the file it is about, so that ``main()`` and the daemon can turn it into one
log line and carry on with the next photo. Anything not derived from
:class:`BlurwatchError` is a bug and keeps its traceback. File names are shown by
:func:`shown`, so that a name holding a newline, or bytes that are not UTF-8 (old
cards, Samba shares), still makes one printable line.
"""

from __future__ import annotations

from pathlib import Path

_SURROGATES = range(0xDC80, 0xDD00)  # how Python keeps a file name's bytes that are not UTF-8


def shown(path: Path | str) -> str:
    """``path`` as one printable line: ``caf\\xe9.jpg`` for a byte that is not UTF-8, ``a\\nb.jpg`` for a newline.

    A name that needs no escaping is shown as it is; in one that does, backslashes are
    doubled too, so that no escape can be mistaken for part of the name.
    """
    text = str(path)
    return text if text.isprintable() else _escaped(text, backslashes=True)


def one_line(text: str) -> str:
    """``text`` with line breaks, other control characters and undecodable bytes escaped (backslashes kept).

    The last guard before a message is printed: a file name that did not pass through
    :func:`shown` cannot split a log entry or make the print fail.
    """
    return text if text.isprintable() else _escaped(text, backslashes=False)


def _escaped(text: str, backslashes: bool) -> str:
    out = []
    for char in text:
        if ord(char) in _SURROGATES:
            out.append(f"\\x{ord(char) - 0xDC00:02x}")
        elif char == "\\" and backslashes:
            out.append("\\\\")
        elif char.isprintable():
            out.append(char)
        else:
            out.append(repr(char)[1:-1])
    return "".join(out)


class BlurwatchError(Exception):
    """Base of every expected failure."""


class ConfigError(BlurwatchError):
    """A configuration file or value is wrong; the message names the key and the file."""


class FileError(BlurwatchError):
    """A file cannot be read or written as asked; the message starts with its path."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{shown(self.path)}: {reason}")


class PhotoError(FileError):
    """One photo could not be handled; the run goes on with the next one."""


class DecodeError(PhotoError):
    """The photo cannot be decoded: corrupt, truncated, a stub, or decodes to garbage."""


class SidecarError(PhotoError):
    """An existing sidecar cannot be merged into safely; it is left untouched."""


class Busy(PhotoError):
    """The photo or its sidecar kept changing while blurwatch worked on it: worth trying again later."""


class UsageError(BlurwatchError):
    """The command line asks for something that cannot be done; exit status 2."""


class DaemonError(BlurwatchError):
    """The watch daemon cannot run as asked (another one already uses its state folder)."""

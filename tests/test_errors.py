"""Expected failures: one line that starts with the file it is about."""

from __future__ import annotations

import os
from pathlib import Path

from blurwatch.errors import BlurwatchError, DecodeError, FileError, PhotoError, SidecarError, one_line, shown


def test_a_file_error_is_one_line_naming_the_file() -> None:
    error = DecodeError("/p/a.jpg", "truncated JPEG")
    assert str(error) == "/p/a.jpg: truncated JPEG"
    assert error.path == Path("/p/a.jpg") and error.reason == "truncated JPEG"


def test_a_photos_errors_are_file_errors_and_expected_ones() -> None:
    for kind in (DecodeError, SidecarError):
        assert issubclass(kind, PhotoError) and issubclass(kind, FileError) and issubclass(kind, BlurwatchError)
    assert not issubclass(FileError, PhotoError)  # a report page that cannot be written is not a photo's failure


def test_a_file_name_is_shown_on_one_printable_line() -> None:
    assert shown("/p/IMG_0001.jpg") == "/p/IMG_0001.jpg"
    assert shown("/p/Ålesund at dusk\\2.jpg") == "/p/Ålesund at dusk\\2.jpg"  # nothing to escape: as it is
    assert shown(os.fsdecode(b"/p/caf\xe9.jpg")) == "/p/caf\\xe9.jpg"
    assert shown("/p/new\nline\\.jpg") == "/p/new\\nline\\\\.jpg"  # escaped: its backslash doubled too
    assert str(DecodeError(os.fsdecode(b"/p/caf\xe9\n.jpg"), "truncated JPEG")) == "/p/caf\\xe9\\n.jpg: truncated JPEG"


def test_one_line_escapes_what_would_break_a_log_line() -> None:
    assert one_line("plain text, C:\\photos") == "plain text, C:\\photos"
    assert one_line("a\nb\r\x1b[31m" + os.fsdecode(b"\xff")) == "a\\nb\\r\\x1b[31m\\xff"

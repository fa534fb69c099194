"""Expected failures: one line that starts with the file it is about."""

from __future__ import annotations

from pathlib import Path

from blurwatch.errors import BlurwatchError, DecodeError, FileError, PhotoError, SidecarError


def test_a_file_error_is_one_line_naming_the_file() -> None:
    error = DecodeError("/p/a.jpg", "truncated JPEG")
    assert str(error) == "/p/a.jpg: truncated JPEG"
    assert error.path == Path("/p/a.jpg") and error.reason == "truncated JPEG"


def test_a_photos_errors_are_file_errors_and_expected_ones() -> None:
    for kind in (DecodeError, SidecarError):
        assert issubclass(kind, PhotoError) and issubclass(kind, FileError) and issubclass(kind, BlurwatchError)
    assert not issubclass(FileError, PhotoError)  # a report page that cannot be written is not a photo's failure

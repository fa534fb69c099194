"""exiv2's one door: packets checked before it parses them, merges verified, EXIF read under one lock."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from blurwatch import xmp
from blurwatch.errors import FileError
from helpers.sidecars import darktable_history

PACKET = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" xmp:Rating="3" xmp:Label="Red">'
    "<dc:subject><rdf:Bag><rdf:li>Lisbon</rdf:li></rdf:Bag></dc:subject>"
    "</rdf:Description></rdf:RDF></x:xmpmeta>"
)


def sidecar_file(tmp_path: Path, text: str = PACKET) -> Path:
    path = tmp_path / "IMG_0001.jpg.xmp"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_sidecar_reads_as_its_properties(tmp_path: Path) -> None:
    read = xmp.read(sidecar_file(tmp_path))
    assert read.fields["Xmp.xmp.Rating"] == "3" and read.fields["Xmp.dc.subject"] == ["Lisbon"]
    assert read.file.data == PACKET.encode()


def test_an_absent_sidecar_reads_as_empty(tmp_path: Path) -> None:
    read = xmp.read(tmp_path / "none.xmp")
    assert read.fields == {} and read.file.data is None


@pytest.mark.parametrize("text, reason", [
    ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "e">]><x:xmpmeta xmlns:x="adobe:ns:meta/"/>', "contains a DTD"),
    ("<x:xmpmeta><unclosed>", "is not valid XML"),
    ('<html xmlns="http://www.w3.org/1999/xhtml"><body/></html>', r"is not an XMP packet \(root element <html>"),
])
def test_a_hostile_or_broken_packet_is_refused_before_exiv2_sees_it(tmp_path: Path, text: str, reason: str) -> None:
    path = sidecar_file(tmp_path, text)
    with pytest.raises(FileError, match=reason) as raised:
        xmp.read(path)
    assert raised.value.path == path


def test_a_packet_with_too_many_nodes_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xmp, "MAX_NODES", 5)
    with pytest.raises(FileError, match="has over 5 XML elements and attributes"):
        xmp.read(sidecar_file(tmp_path))


def test_exivs_own_empty_sidecar_is_accepted() -> None:
    xmp.check_packet(Path("new.xmp"), xmp.EMPTY_PACKET)


def test_a_merge_changes_what_it_names_and_keeps_the_rest(tmp_path: Path) -> None:
    read = xmp.read(sidecar_file(tmp_path))
    merged = xmp.merge(read, {"Xmp.xmp.Rating": "-1", "Xmp.xmp.Label": None,
                              "Xmp.lr.hierarchicalSubject": ["blurwatch|blurry", "places|Lisbon"]})
    fields = _fields(merged)
    assert fields["Xmp.xmp.Rating"] == "-1" and "Xmp.xmp.Label" not in fields
    assert fields["Xmp.lr.hierarchicalSubject"] == ["blurwatch|blurry", "places|Lisbon"]
    assert fields["Xmp.dc.subject"] == ["Lisbon"]
    assert b"<rdf:Bag>" in merged and b"<rdf:Seq>" not in merged  # keywords are a bag, as XMP says


def test_a_new_sidecar_starts_from_exivs_empty_packet(tmp_path: Path) -> None:
    merged = xmp.merge(xmp.read(tmp_path / "new.xmp"), {"Xmp.xmp.Rating": "2"})
    assert _fields(merged) == {"Xmp.xmp.Rating": "2"}


def test_a_merge_that_would_lose_a_property_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    read = xmp.read(sidecar_file(tmp_path))
    real_fields = xmp._fields
    monkeypatch.setattr(xmp, "_fields", lambda path, data: {k: v for k, v in real_fields(path, data).items()
                                                            if k != "Xmp.xmp.Label"})
    with pytest.raises(FileError, match="merging would alter Xmp.xmp.Label as exiv2 reads it; left as it is"):
        xmp.merge(read, {"Xmp.xmp.Rating": "-1"})


def test_a_merge_whose_change_does_not_read_back_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    read = xmp.read(sidecar_file(tmp_path))
    monkeypatch.setattr(xmp.Packet, "set", lambda *args: None)
    with pytest.raises(FileError, match="merging did not give Xmp.xmp.Rating the new value"):
        xmp.merge(read, {"Xmp.xmp.Rating": "-1"})


def test_a_long_darktable_history_is_merged_whole(tmp_path: Path) -> None:
    """1,000 history steps (10,000 properties): exiv2's writer took half a minute; every step is kept."""
    path = tmp_path / "IMG_0001.jpg.xmp"
    path.write_bytes(darktable_history(1000))
    read = xmp.read(path)
    assert len(read.fields) > 10_000
    merged = xmp.merge(read, {"Xmp.xmp.Rating": "-1", "Xmp.dc.subject": ["Lisbon", "blurwatch|blurry"]})
    fields = _fields(merged)
    assert fields["Xmp.xmp.Rating"] == "-1" and fields["Xmp.dc.subject"] == ["Lisbon", "blurwatch|blurry"]
    assert {k: v for k, v in fields.items() if "history" in k} == {k: v for k, v in read.fields.items()
                                                                    if "history" in k}


def test_a_latin_1_sidecar_reads_right_and_keeps_its_text(tmp_path: Path) -> None:
    path = tmp_path / "IMG_0001.jpg.xmp"
    path.write_bytes(('<?xml version="1.0" encoding="ISO-8859-1"?>\n'
                      + PACKET.replace("Lisbon", "Café at dusk")).encode("latin-1"))
    read = xmp.read(path)
    assert read.fields["Xmp.dc.subject"] == ["Café at dusk"]
    merged = xmp.merge(read, {"Xmp.xmp.Rating": "-1"})
    assert "Café at dusk".encode("latin-1") in merged and "CafÃ©".encode("latin-1") not in merged


@pytest.mark.parametrize("text, reason", [
    ("", r"is empty \(0 bytes\)"),
    (PACKET[:150], "is not valid XML: "),
])
def test_an_empty_or_cut_short_sidecar_may_be_a_save_in_progress(tmp_path: Path, text: str, reason: str) -> None:
    path = sidecar_file(tmp_path, text)
    with pytest.raises(xmp.Unfinished, match=reason) as raised:
        xmp.read(path)
    assert raised.value.data == text.encode()


def test_exif_of_a_broken_file_is_empty_not_an_error(tmp_path: Path) -> None:
    assert xmp.read_exif(tmp_path / "a.jpg", b"\xff\xd8 not a jpeg") == {}
    assert xmp.read_exif(tmp_path / "missing.jpg") == {}


def test_threads_share_exiv2_one_at_a_time(tmp_path: Path) -> None:
    """The report's thumbnail threads read EXIF while sidecars are read: no error crosses over."""
    photo = tmp_path / "a.jpg"
    photo.write_bytes(cv2.imencode(".jpg", np.zeros((8, 8), np.uint8))[1].tobytes())
    path = sidecar_file(tmp_path)
    failures: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(50):
                assert xmp.read_exif(photo, b"garbage") == {}
                assert xmp.read(path).fields["Xmp.xmp.Rating"] == "3"
        except BaseException as exc:  # handed to the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []



def _fields(data: bytes) -> dict[str, xmp.Value]:
    return xmp._fields(Path("merged.xmp"), data)

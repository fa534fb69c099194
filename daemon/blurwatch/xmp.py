"""XMP sidecar files, and photos' EXIF, through exiv2: the one door to it.

exiv2 (pyexiv2) reads all XMP, in memory. pyexiv2 collects exiv2's errors in one
process-wide buffer, so every call into it, from any thread (the report makes thumbnails
on several, and decoding reads EXIF), holds :data:`LOCK`.

Before anything parses a sidecar, a streaming parser checks it: well-formed XML, no DTD
or entity declarations (no entity expansion, no external entities), an XMP packet
(``x:xmpmeta`` holding ``rdf:RDF``) of sane size. A hostile or broken file is refused
and left untouched. exiv2 reads the packet as :mod:`blurwatch.packet` hands it over (in
UTF-8, whatever the file's own encoding), and a merge is made by :mod:`blurwatch.packet`
on the XML, in time linear in the file's size, then verified by reading its result back
through exiv2: every property the change did not name must come out as it went in, and
every property it named as asked.
"""

from __future__ import annotations

import io
import logging
import threading
import xml.sax
import xml.sax.handler
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import defusedxml
import defusedxml.expatreader
import pyexiv2

from blurwatch import files, packet
from blurwatch.errors import FileError
from blurwatch.packet import NEW_PACKET, Packet

log = logging.getLogger(__name__)

# XMP values as pyexiv2 reads them: text, a bag/seq as a list, a lang-alt as a dict.
Value = str | list[str] | dict[str, str]
# What a merge writes: text, or a list as a bag.
Written = packet.Value
# EXIF values as pyexiv2 reads them: text, or a list for repeated tags.
Exif = dict[str, str | list[str]]

# A darktable sidecar with a long history and many drawn masks is a few hundred KiB;
# 16 MiB leaves ample room for long values (edit blobs) while bounding what is read.
MAX_BYTES = 16 * 1024 * 1024
# exiv2 needs roughly 700 bytes per XMP node (element or attribute): 100,000 nodes cost
# about 70 MB, while a long darktable history has ten per step and a few thousand in all.
MAX_NODES = 100_000

# The namespaces of the properties blurwatch writes, by exiv2's prefix for them.
_NAMESPACES = {
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "lr": "http://ns.adobe.com/lightroom/1.0/",
    "digiKam": "http://www.digikam.org/ns/1.0/",
}

# The bytes exiv2's own XmpSidecar writes when it creates a sidecar, which exiv2 reads
# as an empty one; a merge into it starts from a new packet.
EMPTY_PACKET = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'.encode()

_XMP_ROOTS = (("adobe:ns:meta/", "xmpmeta"), ("adobe:ns:meta/", "xapmeta"))
_RDF = ("http://www.w3.org/1999/02/22-rdf-syntax-ns#", "RDF")

LOCK = threading.Lock()
# exiv2's warnings about damaged metadata are printed on stdout, where they would corrupt
# ``--json`` output; errors still arrive as RuntimeError.
pyexiv2.set_log_level(3)


class Unfinished(FileError):
    """The file is empty or its XML is cut short: perhaps a save caught half-way."""

    def __init__(self, path: Path, reason: str, data: bytes) -> None:
        super().__init__(path, reason)
        self.data = data


@dataclass(frozen=True)
class Sidecar:
    """An XMP file as read: the file (its bytes) and its properties as exiv2 reads them."""

    file: files.Snapshot
    fields: dict[str, Value]


def register_namespace(uri: str, prefix: str) -> None:
    """Let exiv2 read, and :func:`merge` write, properties ``Xmp.<prefix>.*`` of the namespace ``uri``."""
    with LOCK:
        pyexiv2.registerNs(uri, prefix)
    _NAMESPACES[prefix] = uri


def read(path: Path) -> Sidecar:
    """Read and check an XMP file; an absent one reads as empty.

    Raises :class:`FileError` (naming ``path``) for a file that is unsafe, broken or
    unreadable; it is left as it is.
    """
    snapshot = files.read_bounded(path, MAX_BYTES, "sidecar")
    if snapshot.data is None or _empty(snapshot.data):
        return Sidecar(snapshot, {})
    check_packet(path, snapshot.data)
    return Sidecar(snapshot, _fields(path, Packet(path, snapshot.data).for_exiv2()))


def merge(sidecar: Sidecar, changes: Mapping[str, Written | None]) -> bytes:
    """The file's new bytes: ``changes`` set (None removes a key), everything else verified kept.

    A list becomes an XMP bag. Raises :class:`FileError` when a property to change is in
    a form blurwatch does not write, or the result does not read back through exiv2 as
    the old properties plus the changes.
    """
    path = sidecar.file.path
    data = sidecar.file.data
    edited = Packet(path, NEW_PACKET if data is None or _empty(data) else data)
    for key, value in changes.items():
        prefix, name = _split(key)
        edited.set(_NAMESPACES[prefix], prefix, name, value)
    merged = edited.to_bytes()
    check_packet(path, merged)
    _verify(path, sidecar.fields, changes, _fields(path, Packet(path, merged).for_exiv2()))
    return merged


def read_exif(path: Path, data: bytes | None = None) -> Exif:
    """EXIF tags from ``data``, else from the file; empty when there are none or they are unreadable.

    Handing exiv2 a large buffer costs a copy (about 1 ms per MB); from the file it reads
    only the metadata blocks. A JPEG passes just its header (the segments before the image
    data, plus an EOI), which holds all its EXIF.
    """
    with LOCK:
        try:
            image = pyexiv2.ImageData(data) if data is not None else pyexiv2.Image(str(path), encoding="utf-8")
            try:
                exif: Exif = image.read_exif(encoding="latin-1")  # latin-1 never fails on odd makernote text
                return exif
            finally:
                image.close()
        except (RuntimeError, UnicodeEncodeError) as exc:  # exiv2's errors; a file name that is not UTF-8
            log.debug("%s: EXIF unreadable (%s); going on without it", path, _one_line(exc))
            return {}


def read_packet(path: Path, data: bytes) -> dict[str, Value]:
    """The properties of an XMP packet embedded in a photo; empty when exiv2 cannot read it.

    Checked like a sidecar first (no DTD, sane size). Only for facts that are nice to
    have (a phone's burst id): a broken packet is logged and read as empty.
    """
    try:
        check_packet(path, data)
        return _fields(path, data)
    except FileError as exc:
        log.debug("%s: embedded XMP unreadable (%s); going on without it", path, exc.reason)
        return {}


def check_packet(path: Path, data: bytes) -> None:
    """Let exiv2 see only well-formed XMP of sane size: no DTD (no entity expansion, no XXE).

    A streaming parse: nothing of the file is kept but a count.
    """
    if _empty(data):
        return
    if not data.strip():
        raise Unfinished(path, f"is empty ({len(data)} bytes)", data)
    shape = _Shape(path)
    parser = defusedxml.expatreader.DefusedExpatParser(namespaceHandling=1, forbid_dtd=True)
    parser.setContentHandler(shape)
    try:
        parser.parse(io.BytesIO(data))
    except defusedxml.DefusedXmlException as exc:
        raise FileError(path, f"contains a DTD or entity declaration, refused ({type(exc).__name__})") from exc
    except xml.sax.SAXParseException as exc:
        raise Unfinished(path, f"is not valid XML: {exc.getMessage()} at line {exc.getLineNumber()}", data) from exc
    if shape.root not in _XMP_ROOTS or not shape.has_rdf:
        root = shape.root[1] if shape.root else "none"
        raise FileError(path, f"is not an XMP packet (root element <{root}>, not <x:xmpmeta> with rdf:RDF)")


class _Shape(xml.sax.handler.ContentHandler):
    """Notes the root element and whether rdf:RDF is under it; counts XMP nodes."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.root: tuple[str | None, str] | None = None
        self.has_rdf = False
        self.nodes = 0
        self.depth = 0

    def startElementNS(self, name: tuple[str | None, str], qname: str | None, attrs: Any) -> None:
        self.nodes += 1 + len(attrs)
        if self.nodes > MAX_NODES:
            raise FileError(self.path, f"has over {MAX_NODES} XML elements and attributes, "
                                       "far more than any photo's metadata")
        if self.depth == 0:
            self.root = name
        self.has_rdf = self.has_rdf or (self.depth == 1 and name == _RDF)
        self.depth += 1

    def endElementNS(self, name: tuple[str | None, str], qname: str | None) -> None:
        self.depth -= 1


def _fields(path: Path, data: bytes) -> dict[str, Value]:
    with LOCK:
        try:
            image = pyexiv2.ImageData(data)
            try:
                fields: dict[str, Value] = image.read_xmp()
                return fields
            finally:
                image.close()
        except RuntimeError as exc:
            raise FileError(path, f"exiv2 cannot read it: {_one_line(exc)}") from exc


def _verify(path: Path, before: Mapping[str, Value], changes: Mapping[str, Written | None],
            after: Mapping[str, Value]) -> None:
    """Refuse a merge whose result exiv2 does not read as ``before`` with ``changes`` applied."""
    lost = [key for key, value in before.items() if key not in changes and after.get(key) != value]
    lost += [key for key in after if key not in before and key not in changes]
    if lost:
        raise FileError(path, f"merging would alter {', '.join(lost[:3])} as exiv2 reads it; left as it is")
    missed = [key for key, value in changes.items() if after.get(key) != value]
    if missed:
        raise FileError(path, f"merging did not give {', '.join(missed[:3])} the new value as exiv2 reads it; "
                              "left as it is")


def _split(key: str) -> tuple[str, str]:
    """``Xmp.dc.subject`` -> (``dc``, ``subject``)."""
    family, prefix, name = key.split(".", 2)
    if family != "Xmp" or prefix not in _NAMESPACES:
        raise ValueError(f"{key}: not an XMP key in a namespace blurwatch writes")
    return prefix, name


def _empty(data: bytes) -> bool:
    """exiv2's own empty sidecar: the packet wrapper and nothing in it."""
    return data.strip() == EMPTY_PACKET.strip()


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())

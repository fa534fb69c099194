"""XMP sidecar files, and photos' EXIF, through exiv2: the one door to it.

exiv2 (pyexiv2) reads and writes all XMP, in memory. pyexiv2 collects exiv2's errors
in one process-wide buffer, so every call into it, from any thread (the report makes
thumbnails on several, and decoding reads EXIF), holds :data:`LOCK`.

Before exiv2 parses a sidecar, a streaming parser checks it: well-formed XML, no DTD or
entity declarations (no entity expansion, no external entities), an XMP packet
(``x:xmpmeta`` holding ``rdf:RDF``) of sane size. A hostile or broken file is refused
and left untouched. A merge is verified by reading its result back: a property the
change did not name must come out as it went in.
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

from blurwatch import files
from blurwatch.errors import FileError

log = logging.getLogger(__name__)

# XMP values as pyexiv2 reads them: text, a bag/seq as a list, a lang-alt as a dict.
Value = str | list[str] | dict[str, str]
# EXIF values as pyexiv2 reads them: text, or a list for repeated tags.
Exif = dict[str, str | list[str]]

# A darktable sidecar with a long history and many drawn masks is a few hundred KiB;
# 16 MiB leaves ample room for long values (edit blobs) while bounding what is read.
MAX_BYTES = 16 * 1024 * 1024
# exiv2 needs roughly 700 bytes per XMP node (element or attribute): 100,000 nodes cost
# about 70 MB, while a long darktable history has ten per step and a few thousand in all.
MAX_NODES = 100_000

# The bytes exiv2's own XmpSidecar writes when it creates a sidecar, which exiv2 reads
# as an empty one. pyexiv2 has no call to create a sidecar, so blurwatch starts from these.
EMPTY_PACKET = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'.encode()

_XMP_ROOTS = (("adobe:ns:meta/", "xmpmeta"), ("adobe:ns:meta/", "xapmeta"))
_RDF = ("http://www.w3.org/1999/02/22-rdf-syntax-ns#", "RDF")

LOCK = threading.Lock()
# exiv2's warnings about damaged metadata are printed on stdout, where they would corrupt
# ``--json`` output; errors still arrive as RuntimeError.
pyexiv2.set_log_level(3)


@dataclass(frozen=True)
class Sidecar:
    """An XMP file as read: the file (its bytes, fingerprint, mode) and its properties."""

    file: files.Snapshot
    fields: dict[str, Value]


def register_namespace(uri: str, prefix: str) -> None:
    """Let exiv2 read and write properties ``Xmp.<prefix>.*`` of the namespace ``uri``."""
    with LOCK:
        pyexiv2.registerNs(uri, prefix)


def read(path: Path) -> Sidecar:
    """Read and check an XMP file; an absent one reads as empty.

    Raises :class:`FileError` (naming ``path``) for a file that is unsafe, broken or
    unreadable; it is left as it is.
    """
    snapshot = files.read_bounded(path, MAX_BYTES, "sidecar")
    if snapshot.data is None:
        return Sidecar(snapshot, {})
    check_packet(path, snapshot.data)
    return Sidecar(snapshot, _fields(path, snapshot.data))


def merge(sidecar: Sidecar, changes: Mapping[str, Value | None]) -> bytes:
    """The file's new bytes: ``changes`` merged in by exiv2 (None removes a key), the rest verified kept.

    A list becomes an XMP bag. Raises :class:`FileError` when exiv2 cannot merge, or
    would lose or alter a property the change does not name.
    """
    path = sidecar.file.path
    with LOCK:
        try:
            image = pyexiv2.ImageData(sidecar.file.data or EMPTY_PACKET)
            try:
                # exiv2 mirrors a sidecar's XMP into Exif and IPTC when reading and copies
                # those back on writing, which would resurrect removed ratings and keywords.
                image.clear_exif()
                image.clear_iptc()
                image.modify_xmp(_pyexiv2_changes(changes))
                merged: bytes = image.get_bytes()
            finally:
                image.close()
        except RuntimeError as exc:
            raise FileError(path, f"exiv2 cannot merge into it: {_one_line(exc)}") from exc
    kept = _fields(path, merged)
    lost = [key for key, value in sidecar.fields.items() if key not in changes and kept.get(key) != value]
    if lost:
        raise FileError(path, f"exiv2 would not keep {', '.join(lost[:3])}; left as it is")
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


def read_packet(path: Path, packet: bytes) -> dict[str, Value]:
    """The properties of an XMP packet embedded in a photo; empty when exiv2 cannot read it.

    Checked like a sidecar first (no DTD, sane size). Only for facts that are nice to
    have (a phone's burst id): a broken packet is logged and read as empty.
    """
    try:
        check_packet(path, packet)
        return _fields(path, packet)
    except FileError as exc:
        log.debug("%s: embedded XMP unreadable (%s); going on without it", path, exc.reason)
        return {}


def check_packet(path: Path, data: bytes) -> None:
    """Let exiv2 see only well-formed XMP of sane size: no DTD (no entity expansion, no XXE).

    A streaming parse: nothing of the file is kept but a count.
    """
    if data.strip() == EMPTY_PACKET.strip():
        return
    shape = _Shape(path)
    parser = defusedxml.expatreader.DefusedExpatParser(namespaceHandling=1, forbid_dtd=True)
    parser.setContentHandler(shape)
    try:
        parser.parse(io.BytesIO(data))
    except defusedxml.DefusedXmlException as exc:
        raise FileError(path, f"contains a DTD or entity declaration, refused ({type(exc).__name__})") from exc
    except xml.sax.SAXParseException as exc:
        raise FileError(path, f"is not valid XML: {exc.getMessage()} at line {exc.getLineNumber()}") from exc
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


def _pyexiv2_changes(changes: Mapping[str, Value | None]) -> dict[str, Any]:
    """pyexiv2's form: lists become XMP bags (pyexiv2 writes plain lists as ordered seqs)."""
    table: dict[str, Any] = {}
    for key, value in changes.items():
        if isinstance(value, list):
            table[key] = 'type="Bag"'
            table.update({f"{key}[{i}]": item for i, item in enumerate(value, start=1)})
        else:
            table[key] = value
    return table


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())

"""An XMP packet as XML: blurwatch's few properties set in place, everything else left as it was.

exiv2 rewrites a whole packet whenever it changes one property, in time that grows with
the square of the packet's size (a darktable history of 1,000 steps took half a minute),
drops XML comments, and reads only UTF-8. So blurwatch edits the packet's XML itself,
with lxml: it parses the file in its declared encoding, replaces or removes only the
top-level properties it was asked to (simple values and bags of keywords), and writes
the document back in that same encoding, keeping the bytes before and after the root
element (``<?xpacket?>`` wrappers and padding), comments, namespace prefixes and
every other element as they were. Only the spacing inside start tags is lxml's own.
:mod:`blurwatch.xmp` checks the file before this parses it (no DTD, sane size) and
verifies the result through exiv2, an independent reader.

A property blurwatch would have to rewrite that is not in a shape it writes (keywords
as an ``rdf:Alt`` rather than a bag, a rating with qualifiers, a comment inside the
keywords) is refused with :class:`FileError` naming it, rather than changed in meaning.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from blurwatch.errors import FileError

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_DESCRIPTION = f"{{{RDF}}}Description"
_BAG = f"{{{RDF}}}Bag"
_SEQ = f"{{{RDF}}}Seq"
_ALT = f"{{{RDF}}}Alt"
_LI = f"{{{RDF}}}li"
_ABOUT = f"{{{RDF}}}about"

# A new sidecar: the wrapper exiv2 writes, one empty description.
NEW_PACKET = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
    f' <rdf:RDF xmlns:rdf="{RDF}">\n'
    '  <rdf:Description rdf:about=""/>\n'
    " </rdf:RDF>\n"
    "</x:xmpmeta>\n"
    '<?xpacket end="w"?>\n'
).encode()

_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
         (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
_PARSER = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False,
                          remove_blank_text=False, remove_comments=False, remove_pis=False)

Value = str | list[str]


@dataclass(frozen=True)
class _Encoding:
    """How the file's text is stored: a byte-order mark, then text in ``codec``."""

    bom: bytes
    codec: str


class Packet:
    """One XMP packet, parsed; :meth:`set` changes a property, :meth:`to_bytes` writes the file's new bytes."""

    def __init__(self, path: Path, data: bytes) -> None:
        """Parse ``data`` (already checked: well-formed, no DTD). Raises :class:`FileError` naming ``path``."""
        self.path = path
        self.encoding = _encoding(path, data)
        try:
            text = data[len(self.encoding.bom):].decode(self.encoding.codec)
        except UnicodeDecodeError as exc:
            raise FileError(path, f"is not valid {_named(self.encoding.codec)} text (byte "
                                  f"{exc.start + len(self.encoding.bom)}: {exc.reason}); left as it is") from exc
        try:
            self.root = etree.fromstring(data, _PARSER)
        except etree.XMLSyntaxError as exc:
            raise FileError(path, f"is not valid XML: {exc.msg}") from exc
        self._before, self._after = _around_root(path, text, self.root)
        rdf = self.root.find(f"{{{RDF}}}RDF")
        if rdf is None:
            raise FileError(path, "is not an XMP packet (no rdf:RDF under its root element)")
        self._rdf: etree._Element = rdf

    def for_exiv2(self) -> bytes:
        """The packet as exiv2 reads it: UTF-8, the root element alone (no comment or padding before it)."""
        root: bytes = etree.tostring(self.root, encoding="utf-8")
        return b'<?xml version="1.0" encoding="UTF-8"?>\n' + root

    def to_bytes(self) -> bytes:
        """The file's bytes: its own encoding and byte-order mark, the text around the root as it was."""
        root: str = etree.tostring(self.root, encoding="unicode", with_tail=False)
        return self.encoding.bom + (self._before + root + self._after).encode(self.encoding.codec,
                                                                              "xmlcharrefreplace")

    def set(self, namespace: str, prefix: str, name: str, value: Value | None) -> None:
        """Give the top-level property ``prefix:name`` (in ``namespace``) ``value``; None removes it.

        A text value goes where the property was (an attribute or an element) or, when
        new, becomes an attribute of the first ``rdf:Description``; a list is written as
        an ``rdf:Bag`` where the property was, or at the end of the first description.
        Raises :class:`FileError` when the property's present form is not one blurwatch
        writes.
        """
        tag = f"{{{namespace}}}{name}"
        descriptions = self._descriptions()
        holders = [d for d in descriptions if tag in d.attrib]
        elements = [(d, child) for d in descriptions for child in d if child.tag == tag]
        for _, element in elements:
            _check_shape(self.path, f"{prefix}:{name}", element, value)
        place = (elements[0][0], elements[0][0].index(elements[0][1])) if elements else None
        for holder in holders:
            del holder.attrib[tag]
        for parent, element in elements:
            _remove_keeping_layout(parent, element)
        if value is None:
            return
        if isinstance(value, str) and (holders or place is None):
            parent = (holders or descriptions)[0]
            _declare(parent, prefix, namespace)
            parent.set(tag, value)
            return
        parent, index = place or (descriptions[0], len(descriptions[0]))
        _declare(parent, prefix, namespace)
        element = etree.SubElement(parent, tag)
        if isinstance(value, list):
            bag = etree.SubElement(element, _BAG)
            for item in value:
                etree.SubElement(bag, _LI).text = item
        else:
            element.text = value
        _move(parent, element, index)

    def _descriptions(self) -> list[etree._Element]:
        """The top-level ``rdf:Description`` elements; one is made when there is none."""
        found = [child for child in self._rdf if child.tag == _DESCRIPTION]
        if not found:
            description = etree.SubElement(self._rdf, _DESCRIPTION, {_ABOUT: ""})
            found = [description]
        return found


def _encoding(path: Path, data: bytes) -> _Encoding:
    """The file's encoding: by its byte-order mark, else as its XML declaration says (UTF-8 without one)."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return _Encoding(bom, codec)
    if data.startswith(b"<\0"):
        return _Encoding(b"", "utf-16-le")
    if data.startswith(b"\0<"):
        return _Encoding(b"", "utf-16-be")
    declared = "utf-8"
    if data.startswith(b"<?xml"):
        header = data[: data.find(b"?>") + 2].decode("ascii", "replace")
        for quote in ('"', "'"):
            marker = f"encoding={quote}"
            if marker in header:
                declared = header.split(marker, 1)[1].split(quote, 1)[0]
    try:
        return _Encoding(b"", codecs.lookup(declared).name)
    except LookupError as exc:
        raise FileError(path, f"declares the encoding {declared!r}, which blurwatch does not know; "
                              "left as it is") from exc


def _named(codec: str) -> str:
    return codec.upper().replace("ISO8859", "ISO-8859")


def _around_root(path: Path, text: str, root: etree._Element) -> tuple[str, str]:
    """The text before the root element's start tag and after its end tag, as the file has them."""
    start = 0
    while True:
        while start < len(text) and text[start].isspace():
            start += 1
        if text.startswith("<?", start):
            start = text.index("?>", start) + 2
        elif text.startswith("<!--", start):
            start = text.index("-->", start) + 3
        else:
            break
    qname = root.tag.split("}")[1] if root.prefix is None else f"{root.prefix}:{root.tag.split('}')[1]}"
    end = text.rfind(f"</{qname}")
    if end < start or not text.startswith("<", start):
        raise FileError(path, "is not an XMP packet blurwatch can edit (no end tag for its root element)")
    return text[:start], text[text.index(">", end) + 1 :]


def _check_shape(path: Path, name: str, element: etree._Element, value: Value | None) -> None:
    """Refuse to rewrite a property whose present form blurwatch would not write back the same way."""
    children = list(element)
    if any(not isinstance(node.tag, str) for node in element.iter()):
        raise FileError(path, f"has an XML comment or processing instruction inside {name}, which rewriting "
                              "it would drop; left as it is")
    if not children:
        if set(element.attrib) - {"{http://www.w3.org/XML/1998/namespace}lang"}:
            raise FileError(path, f"has {name} with qualifiers or a resource reference, not a plain value; "
                                  "left as it is")
        return
    if len(children) == 1 and children[0].tag == _ALT:
        raise FileError(path, f"has {name} as an rdf:Alt (alternatives by language), not the rdf:Bag "
                              f"blurwatch writes{' keywords into' if isinstance(value, list) else ''}; "
                              "left as it is")
    array = children[0]
    if not isinstance(value, list) and value is not None or len(children) != 1 or array.tag not in (_BAG, _SEQ) \
            or any(item.tag != _LI or len(item) or item.attrib for item in array):
        raise FileError(path, f"has {name} as a structure blurwatch does not write; left as it is")


def _remove_keeping_layout(parent: etree._Element, element: etree._Element) -> None:
    """Remove ``element`` from ``parent``; the whitespace before its successor stays as it was."""
    previous = element.getprevious()
    if previous is not None:
        previous.tail = element.tail if element.getnext() is None else previous.tail
    elif element.getnext() is None:
        parent.text = element.tail
    parent.remove(element)


def _move(parent: etree._Element, element: etree._Element, index: int) -> None:
    """Make ``parent``'s new last child ``element`` its child ``index``, laid out like its siblings.

    An indented file stays indented: the new element gets its siblings' indentation and
    its own children one space more; a file on one line stays on one line.
    """
    parent.remove(element)
    indent = _child_indent(parent)
    if indent is not None:
        _lay_out(element, indent)
        if not len(parent):
            parent.text, element.tail = indent, indent[:-1]
        elif index == len(parent):
            element.tail, parent[-1].tail = parent[-1].tail, indent
        else:
            element.tail = indent
    parent.insert(index, element)


def _child_indent(parent: etree._Element) -> str | None:
    """The newline and spaces before ``parent``'s children; None when the file is not indented."""
    if len(parent):
        text = parent.text or ""
        return text if "\n" in text and not text.strip() else None
    previous, holder = parent.getprevious(), parent.getparent()
    before = previous.tail if previous is not None else holder.text if holder is not None else None
    if not before or "\n" not in before or before.strip():
        return None
    return "\n" + before.rsplit("\n", 1)[1] + " "


def _lay_out(element: etree._Element, indent: str) -> None:
    """Indent a new element's children one space deeper than ``element`` itself."""
    if len(element):
        element.text = indent + " "
        for child in element:
            _lay_out(child, indent + " ")
            child.tail = indent + " "
        element[-1].tail = indent


def _declare(element: etree._Element, prefix: str, namespace: str) -> None:
    """Make ``namespace`` usable on ``element``, under ``prefix`` unless that prefix means something else there."""
    if namespace in element.nsmap.values():
        return
    taken = set(element.nsmap)
    chosen = prefix
    number = 1
    while chosen in taken:
        chosen, number = f"{prefix}{number}", number + 1
    in_use = {p for node in element.iter() if isinstance(node.tag, str) for p in node.nsmap if p}
    etree.cleanup_namespaces(element, top_nsmap={chosen: namespace}, keep_ns_prefixes=sorted(in_use | {chosen}))

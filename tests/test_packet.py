"""Editing an XMP packet's XML: only the properties named change, the file's encoding and the rest stay."""

from __future__ import annotations

import codecs
from pathlib import Path

import pyexiv2
import pytest
from lxml import etree

from blurwatch.errors import FileError
from blurwatch.packet import NEW_PACKET, Packet

XMP = "http://ns.adobe.com/xap/1.0/"
DC = "http://purl.org/dc/elements/1.1/"
BLURWATCH = "http://ns.blurwatch.org/xmp/1.0/"
PATH = Path("IMG_0001.jpg.xmp")

BODY = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
    ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
    '  <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/"\n'
    '    xmlns:dc="http://purl.org/dc/elements/1.1/" xmp:Rating="3">\n'
    "   <dc:title>\n"
    "    <rdf:Alt>\n"
    '     <rdf:li xml:lang="x-default">Café at dusk</rdf:li>\n'
    "    </rdf:Alt>\n"
    "   </dc:title>\n"
    "   <!-- the photographer's note: keep -->\n"
    "   <dc:subject>\n"
    "    <rdf:Bag>\n"
    "     <rdf:li>Lisbon</rdf:li>\n"
    "    </rdf:Bag>\n"
    "   </dc:subject>\n"
    "  </rdf:Description>\n"
    " </rdf:RDF>\n"
    "</x:xmpmeta>"
)
WRAPPED = f'<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n{BODY}\n{" " * 60}\n<?xpacket end="w"?>'


def exiv2_reads(data: bytes) -> dict:
    image = pyexiv2.ImageData(data)
    try:
        return image.read_xmp()
    finally:
        image.close()


def edited(data: bytes, *changes: tuple[str, str, str, object]) -> bytes:
    packet = Packet(PATH, data)
    for namespace, prefix, name, value in changes:
        packet.set(namespace, prefix, name, value)  # type: ignore[arg-type]
    return packet.to_bytes()


def test_only_the_named_properties_change() -> None:
    out = edited(WRAPPED.encode(), (XMP, "xmp", "Rating", "-1"), (DC, "dc", "subject", ["Lisbon", "blurwatch|blurry"]),
                 (BLURWATCH, "blurwatch", "Verdict", "reject"))
    fields = exiv2_reads(Packet(PATH, out).for_exiv2())
    assert fields["Xmp.xmp.Rating"] == "-1" and fields["Xmp.blurwatch.Verdict"] == "reject"
    assert fields["Xmp.dc.subject"] == ["Lisbon", "blurwatch|blurry"]
    assert fields["Xmp.dc.title"] == {'lang="x-default"': "Café at dusk"}
    text = out.decode()
    assert text.startswith('<?xpacket begin="\ufeff"') and text.endswith(f'\n{" " * 60}\n<?xpacket end="w"?>')
    assert "<!-- the photographer's note: keep -->" in text  # exiv2 would drop it
    assert 'xmlns:blurwatch="http://ns.blurwatch.org/xmp/1.0/"' in text  # exiv2's prefix, not ns0


def test_an_indented_file_stays_indented() -> None:
    out = edited(BODY.encode(), (DC, "dc", "subject", ["Lisbon", "holiday"]),
                 (BLURWATCH, "blurwatch", "Reasons", ["blurry"]))
    assert ("   <dc:subject>\n    <rdf:Bag>\n     <rdf:li>Lisbon</rdf:li>\n     <rdf:li>holiday</rdf:li>\n"
            "    </rdf:Bag>\n   </dc:subject>\n") in out.decode()
    assert out.decode().endswith("   <blurwatch:Reasons>\n    <rdf:Bag>\n     <rdf:li>blurry</rdf:li>\n"
                                 "    </rdf:Bag>\n   </blurwatch:Reasons>\n  </rdf:Description>\n </rdf:RDF>\n"
                                 "</x:xmpmeta>")


def test_removing_a_property_keeps_the_layout_around_it() -> None:
    out = edited(BODY.encode(), (DC, "dc", "subject", None), (XMP, "xmp", "Rating", None))
    assert "dc:subject" not in out.decode() and "Rating" not in out.decode()
    assert "   <!-- the photographer's note: keep -->\n  </rdf:Description>" in out.decode()


def test_an_iso_8859_1_sidecar_stays_iso_8859_1_and_is_read_right() -> None:
    """exiv2 alone reads these bytes as UTF-8 and writes "CafÃ©" back; decoded by its declaration, nothing changes."""
    data = ('<?xml version="1.0" encoding="ISO-8859-1"?>\n' + BODY).encode("latin-1")
    packet = Packet(PATH, data)
    assert exiv2_reads(packet.for_exiv2())["Xmp.dc.title"] == {'lang="x-default"': "Café at dusk"}
    out = edited(data, (DC, "dc", "subject", ["Lisbon", "Ålesund"]))
    assert out.startswith(b'<?xml version="1.0" encoding="ISO-8859-1"?>\n')
    assert "Café at dusk".encode("latin-1") in out and "Ålesund".encode("latin-1") in out
    assert exiv2_reads(Packet(PATH, out).for_exiv2())["Xmp.dc.subject"] == ["Lisbon", "Ålesund"]


def test_a_character_the_files_encoding_lacks_is_written_as_a_reference() -> None:
    data = ('<?xml version="1.0" encoding="ISO-8859-1"?>\n' + BODY).encode("latin-1")
    out = edited(data, (DC, "dc", "subject", ["Łódź"]))
    assert "&#321;ód&#378;".encode("latin-1") in out
    assert exiv2_reads(Packet(PATH, out).for_exiv2())["Xmp.dc.subject"] == ["Łódź"]


@pytest.mark.parametrize("bom, codec", [(codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
                                        (codecs.BOM_UTF8, "utf-8")])
def test_a_sidecar_with_a_byte_order_mark_keeps_it(bom: bytes, codec: str) -> None:
    data = bom + BODY.encode(codec)
    out = edited(data, (XMP, "xmp", "Rating", "-1"))
    assert out.startswith(bom + "<x:xmpmeta".encode(codec))
    assert exiv2_reads(Packet(PATH, out).for_exiv2())["Xmp.xmp.Rating"] == "-1"


def test_a_comment_before_the_root_is_kept_and_hidden_from_exiv2() -> None:
    """exiv2 takes a file starting with a comment for an unknown image type."""
    data = ("<!-- exported by a script -->\n" + BODY).encode()
    packet = Packet(PATH, data)
    assert exiv2_reads(packet.for_exiv2())["Xmp.xmp.Rating"] == "3"
    assert edited(data, (XMP, "xmp", "Rating", "1")).startswith(b"<!-- exported by a script -->\n<x:xmpmeta")


def test_a_value_written_as_an_element_stays_an_element() -> None:
    data = BODY.replace(' xmp:Rating="3">', ">\n   <xmp:Rating>3</xmp:Rating>").encode()
    out = edited(data, (XMP, "xmp", "Rating", "-1"))
    assert b"<xmp:Rating>-1</xmp:Rating>" in out and b'xmp:Rating="' not in out


def test_a_new_sidecar_gets_its_properties() -> None:
    out = edited(NEW_PACKET, (XMP, "xmp", "Rating", "-1"), (DC, "dc", "subject", ["blurwatch|blurry"]))
    fields = exiv2_reads(Packet(PATH, out).for_exiv2())
    assert fields == {"Xmp.xmp.Rating": "-1", "Xmp.dc.subject": ["blurwatch|blurry"]}
    assert out.startswith(b"<?xpacket begin=") and out.endswith(b'<?xpacket end="w"?>\n')


def test_a_packet_without_a_description_gets_one() -> None:
    data = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></x:xmpmeta>'
    out = edited(data, (XMP, "xmp", "Rating", "2"))
    assert exiv2_reads(Packet(PATH, out).for_exiv2()) == {"Xmp.xmp.Rating": "2"}


def test_a_prefix_taken_for_another_namespace_is_not_reused() -> None:
    data = BODY.replace('xmp:Rating="3"', 'xmlns:blurwatch="urn:someone-else" blurwatch:Verdict="theirs"').encode()
    out = edited(data, (BLURWATCH, "blurwatch", "Verdict", "keep"))
    description = etree.fromstring(out)[0][0]
    assert description.get(f"{{{BLURWATCH}}}Verdict") == "keep"
    assert description.get("{urn:someone-else}Verdict") == "theirs"


@pytest.mark.parametrize("subject, message", [
    ("<rdf:Alt><rdf:li xml:lang='x-default'>Lisbon</rdf:li></rdf:Alt>",
     "has dc:subject as an rdf:Alt .* not the rdf:Bag blurwatch writes keywords into; left as it is"),
    ("<rdf:Bag><rdf:li>Lisbon</rdf:li><!-- mine --></rdf:Bag>", "has an XML comment .* inside dc:subject"),
    ("<rdf:Bag><rdf:li><rdf:Description/></rdf:li></rdf:Bag>", "has dc:subject as a structure"),
])
def test_a_property_in_a_shape_blurwatch_does_not_write_is_refused(subject: str, message: str) -> None:
    data = BODY.replace("<rdf:Bag>\n     <rdf:li>Lisbon</rdf:li>\n    </rdf:Bag>", subject).encode()
    with pytest.raises(FileError, match=message) as raised:
        edited(data, (DC, "dc", "subject", ["blurwatch|blurry"]))
    assert raised.value.path == PATH


def test_bytes_that_are_not_what_the_file_declares_are_refused() -> None:
    data = BODY.encode("latin-1")  # no declaration: UTF-8, which "é" in Latin-1 is not
    with pytest.raises(FileError, match=r"is not valid UTF-8 text \(byte \d+: invalid continuation byte\)"):
        Packet(PATH, data)


def test_an_unknown_encoding_is_refused() -> None:
    with pytest.raises(FileError, match="declares the encoding 'x-klingon'"):
        Packet(PATH, ('<?xml version="1.0" encoding="x-klingon"?>' + BODY).encode())

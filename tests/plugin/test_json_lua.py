"""The plugins' JSON decoder (plugins/darktable/lib/json.lua), in Lua 5.1 and 5.4, against Python's json."""

from __future__ import annotations

import json
from typing import Any

import pytest

from luahost import DARKTABLE_PLUGIN, LIGHTROOM_PLUGIN, runtime

JSON_LUA = DARKTABLE_PLUGIN.parent / "lib" / "json.lua"

DOCUMENTS = [
    '{"path": "/photos/IMG_0001.CR2", "verdict": "reject", "reasons": ["blurry", "dark"], "rating": -1,'
    ' "rating_is_manual": false, "sharpness": 0.0312, "scores": {"exposure_ev": -2.75e0, "clipped": 1E-3}}',
    '{"path": "C:\\\\Photos\\\\a \\"b\\".jpg", "error": "tab\\there\\nnew line \\/ slash"}',
    '{"path": "/f\\u00f6t\\u00f8/\\u5199\\u771f.jpg", "emoji": "\\ud83d\\udcf7", "raw": "写真 ünï"}',
    '  [1, 2.5, -3, 0, 1e2, [], {}, [[true, false]], "x"]  ',
    '{"nested": {"deeper": {"list": [{"a": 1}]}}}',
    '"just a string"',
    "-0.5",
]

MALFORMED = ['{"a": 1', '{"a" 1}', "[1, 2,", '{"a": tru}', '"unterminated', '{"a": 1} x', '{"a": "\x01"}',
             '"\\q"', "", '{1: 2}']


def to_python(value: Any) -> Any:
    """A decoded Lua value as Python data (a table with keys 1..n is a list)."""
    if not hasattr(value, "items"):
        return value
    items = dict(value.items())
    if items and all(isinstance(k, int) for k in items) and sorted(items) == list(range(1, len(items) + 1)):
        return [to_python(items[i]) for i in range(1, len(items) + 1)]
    return {k: to_python(v) for k, v in items.items()}


def same(a: Any, b: Any) -> bool:
    """Equal, but an empty Lua table may stand for [] or {} alike."""
    if isinstance(a, (list, dict)) and not a and isinstance(b, (list, dict)) and not b:
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


@pytest.fixture(params=["lua51", "lua54"])
def decode(request: pytest.FixtureRequest) -> Any:
    lua = runtime(request.param)
    module = lua.eval(f"dofile({str(JSON_LUA)!r})")
    return lambda text: to_python(module.decode(text))


@pytest.mark.parametrize("document", DOCUMENTS)
def test_decodes_like_python(decode: Any, document: str) -> None:
    assert same(decode(document), json.loads(document))


def test_null_leaves_the_key_out(decode: Any) -> None:
    assert decode('{"path": "/a.jpg", "verdict": null, "rating": null}') == {"path": "/a.jpg"}


@pytest.mark.parametrize("document", MALFORMED)
def test_malformed_json_raises_an_error_naming_the_position(decode: Any, document: str) -> None:
    with pytest.raises(Exception, match=r"JSON: .* at character \d+|JSON: expected"):
        decode(document)


def test_both_plugins_ship_the_same_decoder() -> None:
    assert (LIGHTROOM_PLUGIN / "json.lua").read_bytes() == JSON_LUA.read_bytes()

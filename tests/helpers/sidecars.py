"""darktable sidecars with long edit histories, for tests and the merge benchmark."""

from __future__ import annotations

import re
from pathlib import Path

DARKTABLE_FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "sidecars" / "darktable-4.2.1.jpg.xmp"

_STEP = """     <rdf:li
      darktable:num="{0}"
      darktable:operation="exposure"
      darktable:enabled="1"
      darktable:modversion="6"
      darktable:params="0000c03f{0:08x}0000803f"
      darktable:multi_name=""
      darktable:multi_priority="0"
      darktable:blendop_version="11"
      darktable:blendop_params="gz14eJxjYIAACQYYOOHEgAZY0QVwggZ7CB6pfNoAAE8gGQg="/>
"""


def darktable_history(steps: int) -> bytes:
    """darktable's own sidecar (the fixture) with a history of ``steps`` steps, laid out as darktable writes it."""
    text = DARKTABLE_FIXTURE.read_text(encoding="utf-8")
    history = "".join(_STEP.format(step) for step in range(steps))
    text = re.sub(r"(<darktable:history>\s*<rdf:Seq>\n).*?(\s*</rdf:Seq>\s*</darktable:history>)",
                  lambda m: m.group(1) + history.rstrip("\n") + m.group(2), text, flags=re.S)
    return text.replace('darktable:history_end="4"', f'darktable:history_end="{steps}"').encode()

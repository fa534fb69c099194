#!/usr/bin/env python3
"""A stand-in for the blurwatch program in the plugins' unit tests.

It speaks the same JSON lines as ``blurwatch --once --json`` and ``blurwatch verdict
--json`` (see blurwatch/commands/), but its "sidecars" are one JSON file named by
$BLURWATCH_FAKE_STORE:
  {"scores": {path: record}, "broken": {path: message}, "stored": {path: record}}
``--once`` moves a photo's record from "scores" to "stored" (as writing its sidecar
would); ``verdict`` prints what is stored. Every call's arguments are appended to
$BLURWATCH_FAKE_STORE.calls, so tests can check how the plugin quoted them.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    store_path = Path(os.environ["BLURWATCH_FAKE_STORE"])
    with open(f"{store_path}.calls", "a", encoding="utf-8") as calls:
        calls.write(json.dumps(argv) + "\n")
    store = json.loads(store_path.read_text(encoding="utf-8"))
    if argv[:2] == ["--once", "--json"]:
        status = once(store, argv[2:])
        store_path.write_text(json.dumps(store), encoding="utf-8")
        return status
    if argv[:2] == ["verdict", "--json"]:
        for path in argv[2:]:
            stored = store["stored"].get(path)
            print(json.dumps({"path": path, **stored} if stored else {"path": path, "verdict": None}))
        return 0
    print(f"fake blurwatch: unexpected arguments {argv}", file=sys.stderr)
    return 2


def once(store: dict, paths: list[str]) -> int:
    failed = 0
    for path in paths:
        if path in store.get("broken", {}):
            print(json.dumps({"path": path, "error": f"{path}: {store['broken'][path]}"}))
            failed += 1
            continue
        record = store["scores"][path]
        kept = store["stored"].get(path, {})
        if kept.get("rating_is_manual"):  # blurwatch keeps a rating set by hand
            record = {**record, "rating": kept["rating"], "rating_is_manual": True}
        store["stored"][path] = record
        print(json.dumps({"path": path, "verdict": record["verdict"], "reasons": record.get("reasons", []),
                          "rating": record.get("rating"), "rating_is_manual": record.get("rating_is_manual", False),
                          "scores": {"sharpness": 0.5}}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

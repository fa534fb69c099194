"""Does a change to blurwatch leave its decisions alone? Every photo's verdict, before and after.

    .venv/bin/python bench/same_verdicts.py save BEFORE.jsonl [PATH...]
    (change blurwatch)
    .venv/bin/python bench/same_verdicts.py compare BEFORE.jsonl [PATH...]

``save`` runs ``blurwatch --once --json --dry-run`` (default configuration, nothing
written) over the paths, by default the team's labelled photos (``../shared/data/photos``
and ``../shared/data/more``), and keeps its output. ``compare`` runs it again and lists
every photo whose verdict, reasons or rating changed, or whose sharpness score moved by
``--score-tolerance`` (0.01) or more, with the largest moves of each score. Exit status
1 when a verdict changed, else 0. A speed-up must leave this silent.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BLURWATCH_SHARED_DATA", ROOT.parent / "shared" / "data")).resolve()
SCORES = ("sharpness", "dark", "overexposed")
DECISION = ("verdict", "reasons", "rating", "burst", "bracket")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("save", "compare"))
    parser.add_argument("file", type=Path, help="the --json output kept by save")
    parser.add_argument("paths", nargs="*", type=Path, default=[SHARED / "photos", SHARED / "more"])
    parser.add_argument("--score-tolerance", type=float, default=0.01)
    args = parser.parse_args()
    records = judge(args.paths)
    if args.action == "save":
        args.file.write_text("".join(json.dumps(r) + "\n" for r in records.values()), encoding="utf-8")
        print(f"{len(records)} photos judged into {args.file}")
        return 0
    before = {r["path"]: r for r in map(json.loads, args.file.read_text(encoding="utf-8").splitlines())}
    changed, lines = differences(before, records, args.score_tolerance)
    print("\n".join(lines))
    return 1 if changed else 0


def judge(paths: list[Path]) -> dict[str, dict[str, Any]]:
    """path -> ``--json`` record of every photo under ``paths``, judged with the default configuration."""
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.yaml"
        config.write_text("{}\n", encoding="utf-8")
        done = subprocess.run([sys.executable, "-m", "blurwatch", "--config", str(config), "-q", "once", "--json",
                               "--dry-run", *map(str, paths)], capture_output=True, text=True, cwd=ROOT)
    if done.returncode not in (0, 1):
        raise SystemExit(f"blurwatch exited with {done.returncode}:\n{done.stderr}")
    return {r["path"]: r for r in map(json.loads, done.stdout.splitlines())}


def differences(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]],
                tolerance: float) -> tuple[int, list[str]]:
    """How many photos changed their decision, and the lines that say what moved."""
    lines, changed = [], 0
    moves = {score: (0.0, "") for score in SCORES}
    for path in sorted(before.keys() | after.keys()):
        old, new = before.get(path), after.get(path)
        if old is None or new is None:
            changed += 1
            lines.append(f"{path}: {'new' if old is None else 'gone'}")
            continue
        decision = [key for key in DECISION if old.get(key) != new.get(key)]
        if "error" in old or "error" in new:
            decision += ["error"] if old.get("error") != new.get("error") else []
        else:
            for score in SCORES:
                move = abs((new["scores"][score] or 0.0) - (old["scores"][score] or 0.0))
                if move > moves[score][0]:
                    moves[score] = (move, path)
            was, now = old["scores"]["sharpness"], new["scores"]["sharpness"]
            if (was is None) != (now is None) or abs((now or 0.0) - (was or 0.0)) >= tolerance:
                lines.append(f"{path}: sharpness {was} -> {now}")
        if decision:
            changed += 1
            lines.append(f"{path}: " + ", ".join(f"{key} {old.get(key)} -> {new.get(key)}" for key in decision))
    lines.append(f"{len(after)} photos, {changed} with another decision; largest moves: "
                 + ", ".join(f"{score} {move:.4f}" + (f" ({Path(path).name})" if path else "")
                             for score, (move, path) in moves.items()))
    return changed, lines


if __name__ == "__main__":
    raise SystemExit(main())

"""``blurwatch verdict PATH...``: print the verdicts stored in sidecars, without scoring.

The darktable plugin calls this to re-apply verdicts after an import. Every photo asked
about gets one line (one JSON object with ``--json``); a photo whose sidecars hold no
blurwatch verdict is printed with ``"verdict": null``, so the caller can tell "not
scored yet" from "left out"; ``scored`` (when blurwatch last changed the verdict, ISO
8601) is there when the sidecar records it. Exit status 1 when a path does not exist or
a sidecar cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from blurwatch import discovery, sidecar
from blurwatch.config import Config
from blurwatch.errors import SidecarError
from blurwatch.sidecar import StoredVerdict


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "verdict",
        help="print the verdicts stored in the photos' sidecars (no scoring)",
        description="Print the blurwatch verdict stored in each photo's XMP sidecar. Photos are "
        'not scored; one without a verdict is printed as "verdict": null.',
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="photos or folders")
    parser.add_argument("--json", action="store_true", help="print one JSON object per photo")
    return parser


def run(args: argparse.Namespace, config: Config) -> int:
    groups, errors = discovery.find_jobs(args.paths)
    for photo in (photo for group in groups for photo in group):
        try:
            stored = sidecar.read_verdict(photo, config.sidecar.naming)
        except SidecarError as exc:
            errors.append(str(exc))
            if args.json:
                print(json.dumps({"path": str(photo), "error": str(exc)}), flush=True)
            continue
        record = as_record(photo, stored)
        print(json.dumps(record) if args.json else describe(record), flush=True)
    for error in errors:
        print(f"blurwatch: {error}", file=sys.stderr)
    return 1 if errors else 0


def as_record(photo: Path, stored: StoredVerdict | None) -> dict[str, Any]:
    """The JSON object for one photo: its stored verdict, or ``"verdict": null``."""
    if stored is None:
        return {"path": str(photo), "verdict": None}
    return {
        "path": str(photo),
        "verdict": stored.verdict,
        "reasons": list(stored.reasons),
        "rating": stored.rating,
        "rating_is_manual": stored.rating_is_manual,
        "sharpness": stored.sharpness,
        "exposure_ev": stored.exposure_ev,
        "model_version": stored.model_version,
        "sidecar": str(stored.sidecar),
    } | ({"scored": stored.scored} if stored.scored else {})


def describe(record: dict[str, Any]) -> str:
    if record["verdict"] is None:
        return f"{record['path']}: no verdict"
    reasons = f" ({', '.join(record['reasons'])})" if record["reasons"] else ""
    manual = ", set by hand" if record["rating_is_manual"] else ""
    rating = "no rating" if record["rating"] is None else f"rating {record['rating']}"
    return f"{record['path']}: {record['verdict']}{reasons}, {rating}{manual}"

"""``blurwatch report PATH... [-o cull.html]``: a contact sheet of the verdicts in the sidecars.

Nothing is scored: the page shows what the sidecars say, so it works on a folder culled
earlier, by ``--once`` or by the daemon (photos the daemon found broken show as failed).
Thumbnails go into ``FILE.d/`` beside the page; both are named on stdout, the page as a
URL to open. A folder where nothing has been culled gets no page.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from blurwatch import report
from blurwatch.config import Config
from blurwatch.errors import UsageError


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "report",
        help="write an HTML contact sheet of the verdicts stored in the sidecars",
        description="Write one static HTML page showing every photo under the given files and "
        "folders by verdict (rejected, review, kept) with its reasons, scores and sharpness map. "
        "It works offline in any browser; thumbnails are kept in FILE.d/ beside it.",
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="photos or folders")
    parser.add_argument("-o", "--output", type=Path, default=Path(report.DEFAULT_NAME), metavar="FILE",
                        help=f"the page to write (default: {report.DEFAULT_NAME}; a folder gets one inside)")
    return parser


def run(args: argparse.Namespace, config: Config) -> int:
    missing = [str(path) for path in args.paths if not path.exists()]
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(missing)}")
    written = report.write_report(args.paths, args.output, config)
    print(written.resolve().as_uri())
    print(f"blurwatch: wrote {written} and its thumbnails in {report.thumbs_dir_of(written)}{os.sep}", file=sys.stderr)
    return 0

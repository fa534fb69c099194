"""Discovery: which files under the given paths are photos to score, grouped into jobs.

A camera set to RAW+JPEG writes IMG_0001.CR2 and IMG_0001.JPG: one shot, one verdict.
Such a pair becomes one group, JPEG first (it decodes much faster than the RAW, and the
RAW is the fallback when the JPEG is broken); every photo of the group gets the verdict.
RAW+HEIF (Canon and Fujifilm write ``.HIF`` beside the RAW) pairs the same way.

Hidden files and folders, sidecars and the temporary names that copy tools and
browsers write before renaming are skipped: scoring a half-copied file would give a
wrong verdict. :func:`is_candidate` is that filter for one name; the watcher uses it too.
"""

from __future__ import annotations

import logging
import os
import stat
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

from blurwatch import decoding
from blurwatch.errors import shown

log = logging.getLogger(__name__)

# What a camera writes beside a RAW for the same shot: the processed picture.
PROCESSED_EXTENSIONS = frozenset({".jpg", ".jpeg"}) | decoding.HEIF_EXTENSIONS
# Names that are still being written: browsers' downloads, rsync/cp temp files, editor backups.
TEMP_SUFFIXES = (".part", ".crdownload", ".tmp", "~")
# Folders of other programs' thumbnails and trash (Synology NAS), never photos to cull.
IGNORED_FOLDERS = frozenset({"@eaDir", "#recycle"})
# The HTML report's thumbnail folder (cull.html -> cull.html.d/), which may sit among the photos.
REPORT_FOLDER_SUFFIX = ".html.d"
# Files that are not photos but belong beside them: sidecars, and blurwatch's report.
COMPANION_SUFFIXES = (".xmp", ".html")

Group = tuple[Path, ...]


def is_candidate(path: Path, root: Path | None = None) -> bool:
    """True when ``path`` names a photo to score: not hidden, not temporary, not a sidecar.

    Only the name is looked at (the file need not exist yet). With ``root``, the folders
    between ``root`` and the file are checked too: nothing inside a hidden folder counts.
    """
    name = path.name
    if _hidden(name) or name.lower().endswith(TEMP_SUFFIXES) or not decoding.is_photo(path):
        return False
    if root is None:
        return True
    try:
        folders = path.parent.relative_to(root).parts
    except ValueError:
        return True
    return not any(_skipped_folder(folder) for folder in folders)


def find_jobs(paths: Iterable[Path], skipped: Counter[str] | None = None) -> tuple[list[Group], list[str]]:
    """The photo groups under ``paths`` (files or folders, recursively), and error lines.

    One group per future job, in a stable sorted order; a path that does not exist or
    a folder that cannot be read is an error line naming it. A file named explicitly is
    taken if it is a photo, hidden or not. ``skipped``, when given, counts the files
    passed over because blurwatch does not read their type, by extension (sidecars,
    hidden and temporary files are not counted: they are not photos waiting).
    """
    photos: dict[str, Path] = {}
    errors: list[str] = []
    skipped = Counter() if skipped is None else skipped
    for given in paths:
        path = Path(os.path.abspath(given))
        kind = _kind(path)
        if kind == "folder":
            for photo in _walk(path, errors, skipped):
                photos.setdefault(str(photo), photo)
        elif kind == "file" and decoding.is_photo(path):
            photos.setdefault(str(path), path)
        elif kind == "file":
            log.warning("%s: not a photo blurwatch reads, skipped", shown(path))
            skipped[_type(path)] += 1
        else:
            errors.append(f"{shown(path)}: {kind}")
    return group(photos.values()), errors


def folder_shots(folder: Path) -> list[Group]:
    """The photo groups directly in ``folder`` (not below it); an unreadable folder has none."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    return group(path for name in names if is_candidate(path := folder / name) and path.is_file())


def group(photos: Iterable[Path]) -> list[Group]:
    """Group RAW+JPEG pairs (same folder, same name but for the extension, any case).

    A group holds the JPEGs first, then the RAWs; photos without a partner of the other
    kind stay alone. Groups are sorted by folder and name.
    """
    by_shot: dict[tuple[Path, str], list[Path]] = defaultdict(list)
    for photo in photos:
        by_shot[shot_key(photo)].append(photo)
    groups: list[Group] = []
    for shot in by_shot.values():
        jpegs = sorted(p for p in shot if p.suffix.lower() in PROCESSED_EXTENSIONS)
        raws = sorted(p for p in shot if p.suffix.lower() in decoding.RAW_EXTENSIONS)
        paired = set(jpegs + raws) if jpegs and raws else set()
        if paired:
            groups.append(tuple(jpegs + raws))
        groups.extend((p,) for p in shot if p not in paired)
    return sorted(groups, key=lambda g: (str(g[0].parent), g[0].name.lower(), g[0].name))


def shot_key(photo: Path) -> tuple[Path, str]:
    """What the photos of one shot share: their folder, and their name but for the extension (any case)."""
    return photo.parent, photo.stem.lower()


def _kind(path: Path) -> str:
    """"file" or "folder", else why ``path`` is neither, in words for an error line."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "no such file or folder"
    except OSError as exc:
        return f"cannot look at it: {exc.strerror}"
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISREG(mode):
        return "file"
    what = "a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
    return f"is {what}, not a photo or a folder; skipped"


def _walk(top: Path, errors: list[str], skipped: Counter[str]) -> Iterable[Path]:
    """Candidate photos under ``top``, skipping hidden and ignored folders; unreadable folders are errors."""

    def report(exc: OSError) -> None:
        errors.append(f"{shown(exc.filename)}: cannot read folder: {exc.strerror}")

    for folder, subfolders, files in os.walk(top, onerror=report):
        subfolders[:] = sorted(d for d in subfolders if not _skipped_folder(d))
        for name in sorted(files):
            path = Path(folder, name)
            if is_candidate(path):
                if path.is_file():
                    yield path
            elif _other_type(name) and path.is_file():
                log.debug("%s: not a photo blurwatch reads, skipped", path)
                skipped[_type(path)] += 1


def _other_type(name: str) -> bool:
    """A visible, finished file that is not a photo blurwatch reads, nor one of its companions."""
    lower = name.lower()
    return not (_hidden(name) or lower.endswith(TEMP_SUFFIXES) or lower.endswith(COMPANION_SUFFIXES))


def _type(path: Path) -> str:
    return path.suffix.lower() or "(no extension)"


def _hidden(name: str) -> bool:
    return name.startswith(".")


def _skipped_folder(name: str) -> bool:
    return _hidden(name) or name in IGNORED_FOLDERS or name.endswith(REPORT_FOLDER_SUFFIX)

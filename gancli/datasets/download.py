"""Fetching a dataset's official files: to a temporary name, checked, then renamed into place.

A file only ever appears under its final name after its md5 matched the published sum, so an
interrupted or corrupted download can never be mistaken for a good file by a later run.
`$GANCLI_DATA_MIRROR` replaces the official hosts with a base URL of your own (a local mirror
holding the files under their official names).
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

from torchvision.datasets.utils import download_url, extract_archive

MIRROR_ENV = "GANCLI_DATA_MIRROR"
TIMEOUT_S = 20  # a stalled connection fails within seconds instead of hanging the run


def source_url(url: str) -> str:
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    return f"{mirror.rstrip('/')}/{url.rsplit('/', 1)[-1]}" if mirror else url


def fetch(url: str, dest: Path, md5: str | None) -> None:
    """Download `url` to `dest`; raise `OSError`/`RuntimeError` and leave nothing behind on failure."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".download", dir=dest.parent))
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(TIMEOUT_S)
    try:
        download_url(source_url(url), str(staging), dest.name, md5)  # checks the md5 after writing
        os.replace(staging / dest.name, dest)
    finally:
        socket.setdefaulttimeout(previous)
        shutil.rmtree(staging, ignore_errors=True)


def unpack(archive: Path, members: dict[str, Path]) -> None:
    """Extract `archive` (.gz or .tar.gz) beside itself and move `members` (path inside -> target)."""
    staging = Path(tempfile.mkdtemp(prefix=f".{archive.name}.", suffix=".unpack", dir=archive.parent))
    try:
        extract_archive(str(archive), str(staging))
        for inside, target in members.items():
            source = staging / inside
            if not source.is_file():
                raise RuntimeError(f"{archive.name} holds no {inside}")
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

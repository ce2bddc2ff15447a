"""Files: crash-safe writing (a temporary name in the same folder, fsync, then rename) and the
user's cache folder."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from gancli.errors import GancliError

# What a write killed half-way leaves beside its target: `atomic_path`'s `.NAME.XXXXXXXX.tmp`,
# and safetensors' `.tmpXXXXXX`, which safetensors writes first and renames onto the temporary
# name it is given.
TEMPORARY_NAME = re.compile(r"\..+\.tmp|\.tmp[A-Za-z0-9]{6}")


def is_temporary(name: str) -> bool:
    """Whether `name` is a temporary file that an interrupted crash-safe write left behind."""
    return TEMPORARY_NAME.fullmatch(name) is not None


def fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot fsync a directory; the rename is still atomic
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `path` in one rename.

    A reader sees either the old file or the complete new one, never a partial write; on any
    failure the temporary file is removed and `path` is untouched.
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp's 0600 (or a writer's own temporary file's) would otherwise outlive the rename.
        os.chmod(tmp, 0o666 & ~current_umask())
        with open(tmp, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def current_umask() -> int:
    """The process's umask, read without changing it where Linux tells it (/proc), so no
    thread ever creates a file under a temporarily cleared mask."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_file(path: Path, write: Callable[[Path], None]) -> Path:
    """Make `path` by `write(temporary path)`, atomically, its folder created if need be; a failure
    (a full disk, a read-only folder) is one `GancliError` line naming the file."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            write(tmp)
    except OSError as err:
        raise GancliError(f"cannot write {path}: {err.strerror or err}") from None
    return path


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def replace_with_copy(source: Path, path: Path) -> None:
    """Atomically make `path` hold the same bytes as `source`, a file already written and synced.

    A hard link costs no second write; where the file system has none, the bytes are copied.
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.unlink(tmp_name)
    try:
        os.link(source, tmp_name)
    except OSError:
        with atomic_path(path) as tmp:
            shutil.copyfile(source, tmp)
        return
    try:
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def user_cache_dir() -> Path:
    """`$XDG_CACHE_HOME`, else ~/.cache: where gancli keeps what it downloads and derives."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")

"""Every file write a gancli process asks the OS for, seen at the Python level: recorded, failed
with an errno instead, or followed at once by SIGKILL.

A write is one of these calls made on gancli's behalf (a gancli source line is on the stack) to a
path under the folder being watched:

- a file opened to write (`open`, `io.open`, and so pathlib, Pillow, zipfile and torch.onnx);
  complete once closed;
- a file created by `os.open` (the run lock, every temporary name);
- bytes written to a descriptor (`os.write`, `os.pwrite`, `os.ftruncate`);
- a safetensors file serialised (safetensors writes from Rust, below Python's `open`, to its own
  `.tmpXXXXXX`, which it then renames onto the name it was given);
- a name given to a file (`os.replace`, `os.rename`, `os.link`);
- an external program's output file (`subprocess.run`: ffmpeg writing the timelapse MP4).

A write's *site* is the chain of gancli source lines that led to it, innermost first, so one line
reached on two paths (a config written for a new run, and for a resumed one) is two sites.

A failed write raises what the OS would: `OSError` with the errno, after half of the bytes of a
content write have reached the file (a disk that fills mid-write); safetensors' own error type for
a safetensors file; a non-zero exit for an external program. A killed write completes first, and
then the process sends itself SIGKILL (a safetensors file: once its bytes are in safetensors'
temporary file). Only the first write at the chosen site is touched.

In a process this module is imported into, `install()` patches the calls and `watching(plan)`
applies a `Plan`; a gancli process started with this folder on PYTHONPATH and a plan as JSON in
`WRITE_FAULT` (see `Plan.to_environment`) applies it from its first line, through sitecustomize.
"""

from __future__ import annotations

import builtins
import contextlib
import errno as errnos
import importlib.util
import io
import json
import os
import random
import re
import signal
import string
import subprocess
import sys
import threading
from dataclasses import dataclass, field

ERRNOS = {"ENOSPC": errnos.ENOSPC, "EIO": errnos.EIO, "EACCES": errnos.EACCES}
KILL = "kill"
ENVIRONMENT = "WRITE_FAULT"
GANCLI = os.path.dirname(importlib.util.find_spec("gancli").origin) + os.sep
# Entry points only: `python -m gancli` passes through them and a test's in-process call does not.
ENTRY_FILES = {os.path.join(GANCLI, "__main__.py"), os.path.join(GANCLI, "cli", "__init__.py")}
# `.NAME.XXXXXXXX.tmp`: the temporary name gancli's atomic writes give NAME (tempfile.mkstemp).
TEMPORARY = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]{8}\.tmp$")
WRITING_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


@dataclass
class Write:
    kind: str           # open, create, write, safetensors, rename, external
    site: tuple[str, ...]
    path: str           # absolute
    command: int        # which command of a sequence made it
    thread: str

    @property
    def final(self) -> str:
        """The name the write stands for: a temporary name's file, else the path itself."""
        folder, name = os.path.split(self.path)
        match = TEMPORARY.match(name)
        return os.path.join(folder, match["name"]) if match else self.path

    @property
    def background(self) -> bool:
        return self.thread != "MainThread"


@dataclass
class Plan:
    root: str                        # only writes under this folder count
    site: tuple[str, ...] | None = None
    fault: str | None = None         # ENOSPC, EIO, EACCES or kill; None: record only
    command: int = 0
    writes: list[Write] = field(default_factory=list)
    fired: Write | None = None

    def to_environment(self) -> str:
        return json.dumps({"root": self.root, "site": list(self.site or ()), "fault": self.fault})

    @classmethod
    def from_environment(cls, text: str) -> "Plan":
        described = json.loads(text)
        return cls(described["root"], tuple(described["site"]) or None, described["fault"])


_plan: Plan | None = None
_lock = threading.Lock()
_real: dict[str, object] = {}


def site_here() -> tuple[str, ...]:
    frame, lines = sys._getframe(1), []
    while frame is not None:
        name = frame.f_code.co_filename
        if name.startswith(GANCLI) and name not in ENTRY_FILES:
            lines.append(f"gancli/{name[len(GANCLI):]}:{frame.f_lineno}")
        frame = frame.f_back
    return tuple(lines)


def _under_root(path: str) -> bool:
    return _plan is not None and (path + os.sep).startswith(_plan.root + os.sep)


def _event(kind: str, target) -> str | None:
    """Record a write of `target` if gancli asked for it; what to do to it: None, an errno name or kill."""
    if _plan is None or isinstance(target, int):
        return None
    path = os.path.abspath(os.fsdecode(os.fspath(target)))
    if not _under_root(path):
        return None
    site = site_here()
    if not site:
        return None
    with _lock:
        plan = _plan
        write = Write(kind, site, path, plan.command, threading.current_thread().name)
        plan.writes.append(write)
        if plan.fault and plan.fired is None and site == plan.site:
            plan.fired = write
            return plan.fault
    return None


def _fd_path(fd: int) -> str | None:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None


def _error(name: str, path) -> OSError:
    code = ERRNOS[name]
    return OSError(code, os.strerror(code), os.fsdecode(os.fspath(path)))


def die() -> None:
    """SIGKILL this process: nothing after the write runs, no handler, no flush."""
    os.kill(os.getpid(), signal.SIGKILL)


class _WatchedFile:
    """A file opened to write, as the caller sees it; the fault lands on its first write (half
    the bytes first) or, killed, just after it is closed."""

    def __init__(self, file, fault: str, path: str):
        self._file, self._fault, self._path, self._failed = file, fault, path, False

    def __getattr__(self, name):
        return getattr(self._file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __iter__(self):
        return iter(self._file)

    def write(self, data):
        if self._fault in ERRNOS and not self._failed:
            self._failed = True
            self._file.write(data[:len(data) // 2])
            raise _error(self._fault, self._path)
        return self._file.write(data)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def close(self):
        already = self._file.closed
        self._file.close()
        if already:
            return
        if self._fault == KILL:
            die()
        if self._fault in ERRNOS and not self._failed:  # written past Python (sendfile, a C encoder)
            self._failed = True
            raise _error(self._fault, self._path)


def _open(file, mode="r", *args, **kwargs):
    opened = _real["open"](file, mode, *args, **kwargs)
    if isinstance(file, int) or not set(mode) & set("wax"):  # "r+": opened to fsync, not to write
        return opened
    fault = _event("open", file)
    return opened if fault is None else _WatchedFile(opened, fault, os.fsdecode(os.fspath(file)))


def _os_open(path, flags, mode=0o777, *args, **kwargs):
    fault = _event("create", path) if flags & WRITING_FLAGS else None
    if fault in ERRNOS:
        raise _error(fault, path)
    fd = _real["os.open"](path, flags, mode, *args, **kwargs)
    if fault == KILL:
        die()
    return fd


def _descriptor_write(name: str, halve: bool):
    real = _real[f"os.{name}"]

    def patched(fd, *args):
        path = _fd_path(fd) if _plan is not None else None
        fault = _event("write", path) if path else None
        if fault in ERRNOS:
            if halve:
                data, rest = args[0], args[1:]
                real(fd, data[:len(data) // 2], *rest)
            raise _error(fault, path)
        result = real(fd, *args)
        if fault == KILL:
            die()
        return result

    return patched


def _naming(name: str):
    real = _real[f"os.{name}"]

    def patched(source, target, *args, **kwargs):
        fault = _event("rename" if name != "link" else "link", target)
        if fault in ERRNOS:
            raise _error(fault, target)
        result = real(source, target, *args, **kwargs)
        if fault == KILL:
            die()
        return result

    return patched


def _serialize_file(tensors, filename, *args, **kwargs):
    # safetensors writes the bytes to its own `.tmpXXXXXX` beside the file, then renames it there.
    fault = _event("safetensors", filename)
    if fault in ERRNOS:  # its temporary file is dropped, the file it was given is left as it was
        from safetensors import SafetensorError

        code = ERRNOS[fault]
        raise SafetensorError(f"Error while serializing: I/O error: {os.strerror(code)} (os error {code})")
    if fault == KILL:  # killed once the bytes are written, before safetensors' rename
        own = os.path.join(os.path.dirname(os.path.abspath(filename)),
                           ".tmp" + "".join(random.choices(string.ascii_letters + string.digits, k=6)))
        _real["serialize_file"](tensors, own, *args, **kwargs)
        die()
    return _real["serialize_file"](tensors, filename, *args, **kwargs)


def _run(args, *rest, **kwargs):
    target = args[-1] if isinstance(args, (list, tuple)) and args else None
    fault = _event("external", target) if isinstance(target, (str, os.PathLike)) else None
    if fault in ERRNOS:
        message = f"{os.fsdecode(os.fspath(target))}: {os.strerror(ERRNOS[fault])}\n".encode()
        if kwargs.get("check"):
            raise subprocess.CalledProcessError(1, args, output=b"", stderr=message)
        return subprocess.CompletedProcess(args, 1, b"", message)
    result = _real["subprocess.run"](args, *rest, **kwargs)
    if fault == KILL:
        die()
    return result


def install() -> None:
    """Patch the calls; harmless until a plan is being watched, and done once per process."""
    if _real:
        return
    import safetensors.torch

    _real.update({"open": builtins.open, "os.open": os.open, "os.write": os.write, "os.pwrite": os.pwrite,
                  "os.ftruncate": os.ftruncate, "os.replace": os.replace, "os.rename": os.rename,
                  "os.link": os.link, "serialize_file": safetensors.torch.serialize_file,
                  "subprocess.run": subprocess.run})
    builtins.open = io.open = _open
    os.open = _os_open
    os.write = _descriptor_write("write", halve=True)
    os.pwrite = _descriptor_write("pwrite", halve=True)
    os.ftruncate = _descriptor_write("ftruncate", halve=False)
    os.replace, os.rename, os.link = _naming("replace"), _naming("rename"), _naming("link")
    safetensors.torch.serialize_file = _serialize_file
    subprocess.run = _run


def uninstall() -> None:
    if not _real:
        return
    import safetensors.torch

    builtins.open = io.open = _real["open"]
    os.open, os.write, os.pwrite = _real["os.open"], _real["os.write"], _real["os.pwrite"]
    os.ftruncate, os.replace = _real["os.ftruncate"], _real["os.replace"]
    os.rename, os.link = _real["os.rename"], _real["os.link"]
    safetensors.torch.serialize_file = _real["serialize_file"]
    subprocess.run = _real["subprocess.run"]
    _real.clear()


@contextlib.contextmanager
def watching(plan: Plan):
    """Apply `plan` to the writes made inside the block."""
    global _plan
    plan.root = os.path.abspath(plan.root)
    _plan = plan
    try:
        yield plan
    finally:
        _plan = None


def install_from_environment() -> None:
    global _plan
    install()
    _plan = Plan.from_environment(os.environ[ENVIRONMENT])
    _plan.root = os.path.abspath(_plan.root)

"""One process writes a run folder at a time: an exclusive OS lock on `DIR/.gancli.lock`.

The kernel releases the lock when its holder exits in any way (SIGKILL included), so a lock is
never left stale; the file keeps the holder's PID for the message a second process prints.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from gancli.errors import GancliError

LOCK_NAME = ".gancli.lock"


class RunLock:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.path = self.root / LOCK_NAME
        self._fd: int | None = None
        self._made_root = False

    def acquire(self) -> "RunLock":
        """Take the folder, creating it if need be; a folder another process holds is one error line."""
        try:
            self._made_root = not self.root.exists()
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as err:
            raise GancliError(f"cannot write the run folder {self.root}: {err.strerror or err}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise GancliError(f"{self.root} is in use by another gancli process (PID {holder}); "
                              f"a run folder has one writer at a time: wait for it or stop it") from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        except OSError as err:  # a full disk: leave the folder as it was found
            self._fd = fd
            self.release()
            raise GancliError(f"cannot write the run folder {self.root}: {err.strerror or err}") from None
        self._fd = fd
        return self

    def release(self) -> None:
        """Let the folder go; one this lock created and nothing else wrote into is removed again."""
        if self._fd is None:
            return
        try:
            if self._made_root and [p.name for p in self.root.iterdir()] == [LOCK_NAME]:
                self.path.unlink()
                self.root.rmdir()
        except OSError:
            pass  # only tidying: the folder stays as it is
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

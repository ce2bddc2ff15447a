"""A process that has imported gancli once and forks a child per command: each child is a real
gancli process (its own pid, files and signals) that applies the write fault given for it, as a
process started with WRITE_FAULT in its environment does, without paying for torch's import.

    python -c "import server; server.serve()"      # with this folder on PYTHONPATH

Requests on stdin and answers on stdout are JSON lines:

    {"id": "7", "cwd": DIR, "args": ["train", ...], "fault": WRITE_FAULT or null, "log": PREFIX}
    {"id": "7", "code": -9, "cpu": 1.3}   # its exit code (-N: killed by signal N), CPU seconds

A child's stdout and stderr go to PREFIX.out and PREFIX.err.
"""

from __future__ import annotations

import gc
import json
import os
import select
import sys
import traceback

import write_faults


def child(request: dict) -> None:
    """Run one gancli command in this forked process, and never return."""
    code = 1
    try:
        log = request["log"]
        for fd, suffix in ((1, ".out"), (2, ".err")):
            target = os.open(log + suffix, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(target, fd)
            os.close(target)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.chdir(request["cwd"])
        if request["fault"]:
            os.environ[write_faults.ENVIRONMENT] = request["fault"]
            write_faults.install_from_environment()
        from gancli.cli import app

        sys.argv = ["gancli", *request["args"]]
        try:
            app(prog_name="gancli", args=request["args"])
            code = 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve() -> None:
    write_faults.install()
    # What every command imports, imported once here, before any child is forked; no torch
    # operation runs in this process, so no thread pool is forked half-way.
    import gancli.checkpoints.generator  # noqa: F401
    import gancli.cli.app  # noqa: F401
    import gancli.report  # noqa: F401
    import gancli.sampling.export  # noqa: F401
    import gancli.sampling.output  # noqa: F401
    import gancli.training.run.trainer  # noqa: F401

    gc.freeze()  # what is here now is never garbage: each child's collections skip it (and share its pages)
    running: dict[int, str] = {}
    pending = b""
    stdin = sys.stdin.fileno()
    open_input = True
    answer(None, "ready")
    while open_input or running:
        readable, _, _ = select.select([stdin] if open_input else [], [], [], 0.02)
        if readable:
            chunk = os.read(stdin, 65536)
            open_input = bool(chunk)
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                request = json.loads(line)
                sys.stdout.flush()
                pid = os.fork()
                if pid == 0:
                    child(request)
                running[pid] = request["id"]
        while running:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
            if pid == 0:
                break
            answer(running.pop(pid), os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime)


def answer(request_id: str | None, code, cpu: float = 0.0) -> None:
    sys.stdout.write(json.dumps({"id": request_id, "code": code, "cpu": cpu}) + "\n")
    sys.stdout.flush()

"""Every file write of a short run, failed in turn.

A run's life (train, resume, sample, report, export, timelapse) runs once with every write gancli
makes recorded (tests/faults/write_faults.py says what a write is, and its site: the chain of
gancli lines that asked for it). Then, per write site, it runs again from the state before that
command with the site's first write failing with ENOSPC, with EIO and with EACCES, and once more
with the process killed just after that write. After each fault what a user relies on holds:

(a) a failed write ends the command with one line on stderr, `Error: ...` naming the file (the run
    lock is named by its run folder), after nothing but the notes the command prints anyway, and
    a non-zero exit; never a traceback. A command may instead recover (a refused hard link: the
    bytes are copied) when every file it writes is then whole; only the timelapse, rebuilt off the
    training thread, may be lost without a word (the next grid rebuilds it);
(b) the newest complete checkpoint (`find_resume_point`) reads, holds the weights that step had
    when it was first written, is no older than the newest whose files were all in place before
    the fault, and `gancli train --resume RUN --steps N+1` continues from it (a run with no
    complete checkpoint starts again: `--resume auto`);
(c) no file under a final name is partial: safetensors files read, images open, config, status,
    report and ONNX files are whole, and metrics.jsonl is whole JSON lines, but for its last line
    right after a failed append (a full disk may cut a line short; a run's next command drops
    it) and in a run moved aside (kept byte for byte as the fault left it);
(d) once that next command has run, no temporary file is left anywhere.

The next command runs after every kill, and after every error whose command left files other
than another error's writing the same file did: a resume reads only what is on disk, and the
errors at one file's writes (its temporary name made, written, renamed; each errno, which gancli
never tells apart) mostly leave the same files, whole or cut short alike.

Errors are injected in this process through typer's CliRunner; kills, and the commands after
each fault, run as real processes forked from one that imported gancli once
(tests/faults/server.py), side by side with the in-process work. One kill runs as a process of
its own instead, `python -m gancli` with the fault in WRITE_FAULT, applied by
tests/faults/sitecustomize.py. `pytest -s` prints the sites and the count of faults.
"""

from __future__ import annotations

import gc
import importlib.util
import itertools
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
import yaml
from conftest import TINY_MODEL
from PIL import Image
from typer.testing import CliRunner

from faults import write_faults
from faults.write_faults import ERRNOS, KILL, Plan, Write
from gancli.checkpoints.format import StoredFile, read_info
from gancli.cli.app import app
from gancli.errors import GancliError
from gancli.training.run.lock import LOCK_NAME
from gancli.training.run.resume import find_resume_point

FAULTS = (*ERRNOS, KILL)
RUN = "run"
TINY = ["--data", "synthetic", "--split", "test", "--batch-size", "8", "--device", "cpu", "--log-every", "1",
        "--sample-every", "2", "--checkpoint-every", "2", *[f"--set=model.{k}={v}" for k, v in TINY_MODEL.items()]]
ONNX = all(importlib.util.find_spec(name) for name in ("onnx", "onnxruntime"))  # gancli[onnx]
# A run's life, each command run in the folder that holds RUN. Outputs go into the run folder,
# whose next training command removes what a killed write left there.
COMMANDS = (
    ["train", *TINY, "--steps", "2", "--out", RUN],
    ["train", "--resume", RUN, "--steps", "4"],
    ["sample", RUN, "-o", f"{RUN}/sampled.png"],
    ["report", RUN],
    *([["export", RUN, "-o", f"{RUN}/generator.onnx"]] if ONNX else []),
    ["report", RUN, "--timelapse"],
)
TIMEOUT = 300  # a guard against hanging, not an assertion on speed

# Descriptors are named through /proc, and the kills fork from one process.
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux only: /proc/self/fd and fork")


def relative(path: str | Path, folder: Path) -> str:
    return os.path.relpath(path, folder)


# -- the recording ---------------------------------------------------------------------------

@dataclass
class Site:
    chain: tuple[str, ...]
    first: Write          # the first write made there
    position: int         # of that write among all the recording's writes
    target: str           # the file it writes, relative to the folder the commands ran in

    def describe(self) -> str:
        asked = next((line for line in self.chain if not line.startswith("gancli/core/files.py")), self.chain[0])
        where = self.chain[0] if asked == self.chain[0] else f"{self.chain[0]} for {asked}"
        words = [word for word in COMMANDS[self.first.command] if word in ("train", "sample", "report", "export",
                                                                            "--resume", "--timelapse")]
        thread = ", off the training thread" if self.first.background else ""
        return f"{where}: {self.first.kind} {self.target} ({' '.join(words)}{thread})"


@dataclass
class Recording:
    folder: Path                 # where the commands ran
    snapshots: list[Path]        # that folder as it was before each command
    notes: list[set[str]]        # what each command printed on stderr
    writes: list[Write]
    sites: list[Site]

    def written_by(self, command: int) -> set[str]:
        """The files a command wrote on its main thread, relative to the folder."""
        return {relative(w.final, self.folder) for w in self.writes if w.command == command and not w.background}

    def complete_step(self, upto: int) -> int:
        """The newest step whose checkpoint and state had both been renamed into place by write `upto`."""
        named = {relative(w.path, self.folder) for w in self.writes[:upto] if w.kind == "rename"}
        steps = [int(name.removeprefix(f"{RUN}/checkpoints/step-").removesuffix(".safetensors")) for name in named
                 if name.startswith(f"{RUN}/checkpoints/step-")]
        return max((s for s in steps if f"{RUN}/state/step-{s:07d}.safetensors" in named), default=0)

    def start_of(self, command: int) -> int:
        return next(index for index, write in enumerate(self.writes) if write.command == command)


def invoke(runner: CliRunner, folder: Path, args: list[str], plan: Plan):
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        with write_faults.watching(plan):
            return runner.invoke(app, args)
    finally:
        os.chdir(cwd)


def record(runner: CliRunner, base: Path) -> Recording:
    folder, snapshots, notes = base / "recording", [], []
    folder.mkdir()
    plan = Plan(str(folder))
    for number, args in enumerate(COMMANDS):
        snapshots.append(base / f"before-{number}")
        shutil.copytree(folder, snapshots[-1], symlinks=True)
        plan.command = number
        result = invoke(runner, folder, args, plan)
        assert result.exit_code == 0, (args, result.output, result.exception)
        notes.append(set(result.stderr.splitlines()))
    sites: dict[tuple[str, ...], Site] = {}
    for position, write in enumerate(plan.writes):
        if write.site not in sites:
            sites[write.site] = Site(write.site, write, position, relative(write.final, folder))
    return Recording(folder, snapshots, notes, plan.writes, list(sites.values()))


# -- what the folder must hold ----------------------------------------------------------------

def is_leftover(path: Path) -> bool:
    """A temporary file an interrupted write left: `.NAME.XXXXXXXX.tmp`, safetensors' `.tmpXXXXXX`."""
    return path.name.startswith(".") and (path.name.endswith(".tmp") or path.name.startswith(".tmp"))


def temporaries(folder: Path) -> list[str]:
    return sorted(relative(p, folder) for p in folder.rglob(".*") if p.is_file() and is_leftover(p))


def files_left(folder: Path) -> tuple[str, ...]:
    """What is in the folder, temporary files by the folder they are in, and whether
    metrics.jsonl ends with a line cut short."""
    names = {relative(p.parent / ".TEMPORARY" if is_leftover(p) else p, folder)
             for p in folder.rglob("*") if p.is_file()}
    metrics = folder / RUN / "metrics.jsonl"
    if metrics.is_file() and metrics.read_bytes()[-1:] not in (b"", b"\n"):
        names.add(f"{RUN}/metrics.jsonl, cut short")
    return tuple(sorted(names))


def partial_files(folder: Path, torn_metrics_allowed: bool) -> list[str]:
    """Files under a final name that are not whole."""
    problems = []
    for path in sorted((folder / RUN).rglob("*")):
        if path.name.startswith(".") or not path.is_file():
            continue
        aside = path.relative_to(folder / RUN).parts[0].startswith("replaced-")
        try:
            if path.suffix == ".safetensors":
                StoredFile.read(path)
            elif path.suffix in (".png", ".gif"):
                with Image.open(path) as image:
                    image.load()
            elif path.name == "metrics.jsonl":
                *lines, last = path.read_text(encoding="utf-8").split("\n")
                for line in lines:
                    assert isinstance(json.loads(line), dict), line
                if last and not (torn_metrics_allowed or aside):
                    raise ValueError(f"a last line cut short: {last[:40]!r}...")
            elif path.name in ("config.yaml", "status.json"):
                assert isinstance(yaml.safe_load(path.read_text(encoding="utf-8")), dict), "not a mapping"
            elif path.suffix == ".html":
                assert path.read_text(encoding="utf-8").rstrip().endswith("</html>"), "no </html> at its end"
            elif path.suffix == ".onnx":
                import onnx

                onnx.load(str(path))
            elif path.suffix == ".mp4":
                assert path.read_bytes()[4:8] == b"ftyp", "no MP4 header"
        except Exception as err:  # whatever a damaged file raises, reported with its name
            problems.append(f"{relative(path, folder)} is not whole: {type(err).__name__}: {err}")
    return problems


# -- the faults -------------------------------------------------------------------------------

@dataclass
class Case:
    site: Site
    fault: str                   # ENOSPC, EIO, EACCES or kill
    folder: Path
    problems: list[str] = field(default_factory=list)
    outcome: str = ""            # how the faulted command ended
    resumed: str = ""            # how the next command went

    @property
    def name(self) -> str:
        return f"{self.fault} at {self.site.describe()}"

    @property
    def command(self) -> int:
        return self.site.first.command

    def expect(self, holds: bool, problem: str) -> None:
        if not holds:
            self.problems.append(problem)


# Defects the harness finds that are not fixed yet: the correct behaviour is expected, and a case
# that still shows one is an expected failure saying why. None today.
KNOWN_DEFECTS: tuple = ()


def environment(fault: str | None = None) -> dict[str, str]:
    """This process's environment with tests/faults first on PYTHONPATH, one thread for torch, and
    `fault` in WRITE_FAULT."""
    env = {k: v for k, v in os.environ.items() if k not in ("GANCLI_DEBUG", write_faults.ENVIRONMENT)}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent / "faults"), *filter(None, [env.get("PYTHONPATH")])])
    env.update(PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1", **({write_faults.ENVIRONMENT: fault} if fault else {}))
    return env


def start(folder: Path, args: list[str], fault: str) -> tuple[int, str]:
    """`python -m gancli ARGS` in `folder`, with `fault` to apply from its first line: exit code and stderr."""
    done = subprocess.run([sys.executable, "-m", "gancli", *args], cwd=folder, env=environment(fault),
                          capture_output=True, text=True, timeout=TIMEOUT)
    return done.returncode, done.stderr


class Server:
    """The forking gancli process of tests/faults/server.py, shared by threads."""

    def __init__(self, logs: Path):
        self.process = subprocess.Popen([sys.executable, "-c", "import server; server.serve()"], env=environment(),
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.logs, self.ids, self.lock = logs, itertools.count(), threading.Lock()
        self.waiting: dict[str, Future] = {}
        self.ready: Future = Future()
        self.cpu = 0.0
        threading.Thread(target=self.read, daemon=True).start()

    def read(self) -> None:
        for line in self.process.stdout:
            answer = json.loads(line)
            if answer["id"] is None:
                self.ready.set_result(True)
                continue
            with self.lock:
                future = self.waiting.pop(answer["id"])
                self.cpu += answer["cpu"]
            future.set_result(answer["code"])

    def run(self, folder: Path, args: list[str], fault: str | None = None) -> tuple[int, str]:
        """Run `gancli ARGS` in `folder` as a child process: its exit code (-9: killed) and stderr."""
        self.ready.result(timeout=TIMEOUT)
        future: Future = Future()
        with self.lock:
            request_id = str(next(self.ids))
            self.waiting[request_id] = future
            log = str(self.logs / request_id)
            self.process.stdin.write(json.dumps({"id": request_id, "cwd": str(folder), "args": args,
                                                 "fault": fault, "log": log}) + "\n")
            self.process.stdin.flush()
        code = future.result(timeout=TIMEOUT)
        return code, Path(log + ".err").read_text()

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=TIMEOUT)


class Harness:
    def __init__(self, recording: Recording, runner: CliRunner, server: Server):
        self.recording, self.runner, self.server = recording, runner, server
        self.resumed: dict[tuple, str] = {}  # (file, files left, step) -> the case whose next command ran

    def prepare(self, case: Case) -> None:
        shutil.copytree(self.recording.snapshots[case.command], case.folder, symlinks=True)

    def plan(self, case: Case) -> Plan:
        return Plan(str(case.folder), case.site.chain, case.fault)

    # (a): how the faulted command ended

    def run_error(self, case: Case) -> int | None:
        """Fail the write in this process and check what it left; the step to resume from, or
        None when no next command is needed."""
        self.prepare(case)
        plan = self.plan(case)
        result = invoke(self.runner, case.folder, COMMANDS[case.command], plan)
        if plan.fired is None:
            case.problems.append("the write was never reached")
            return None
        lines = result.stderr.strip().splitlines()
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            shown = "".join(traceback.format_exception(*result.exc_info)).strip().splitlines()
            case.outcome = f"a traceback: {shown[-1]}"
            case.problems.append(f"a traceback instead of one line: {' | '.join(shown[-4:])}")
        elif result.exit_code != 0:
            case.outcome = lines[-1] if lines else f"exit {result.exit_code} and not a word"
            named = f"the run folder {RUN}" if case.site.target.endswith(LOCK_NAME) else case.site.target
            notes = [line for line in lines[:-1] if line not in self.recording.notes[case.command]]
            case.expect(bool(lines) and lines[-1].startswith("Error: ") and not notes,
                        f"stderr is not one Error: line after the command's notes: {result.stderr!r}")
            case.expect(bool(lines) and named in lines[-1], f"the error does not name {named}: {result.stderr!r}")
        else:
            case.outcome = "recovered"
            lost = [name for name in sorted(self.recording.written_by(case.command))
                    if not (case.folder / name).exists()]
            case.expect(plan.fired.background or not lost,
                        f"exit 0 and not a word, but {', '.join(lost)} {'is' if len(lost) == 1 else 'are'} missing")
        step = self.check_fault_left(case, torn_metrics_allowed=True)
        seen = (case.site.target, files_left(case.folder), step)
        if seen in self.resumed:
            case.resumed = f"as after {self.resumed[seen]}: the same files were left"
            return None
        self.resumed[seen] = case.name
        return step

    def run_kill(self, case: Case, started: bool = False) -> None:
        """Kill a real process just after the write, check what it left, run the next command;
        `started`: a process of its own rather than one forked from the server."""
        self.prepare(case)
        fault = self.plan(case).to_environment()
        run = start if started else self.server.run
        code, stderr = run(case.folder, COMMANDS[case.command], fault)
        case.outcome = "killed" if code == -9 else f"exit {code}"
        if code != -9:
            case.problems.append(f"not killed at the write (exit {code}): {stderr.strip()[-500:]!r}")
            return
        self.check_next_command(case, self.check_fault_left(case, torn_metrics_allowed=False))

    # (b), (c): what the fault left

    def check_fault_left(self, case: Case, torn_metrics_allowed: bool) -> int:
        """Check the files after the fault; the step of the newest complete checkpoint (0: none)."""
        case.problems += partial_files(case.folder, torn_metrics_allowed)
        # A write off the main thread lands anywhere among the main thread's: only what was
        # complete when its command started can be counted on.
        upto = self.recording.start_of(case.command) if case.site.first.background else \
            case.site.position + (case.fault == KILL)
        expected = self.recording.complete_step(upto)
        try:
            point = find_resume_point(case.folder / RUN)
        except GancliError as err:
            case.expect(expected == 0, f"no usable checkpoint, though step {expected} was complete: {err}")
            return 0
        step = point.state.step
        case.expect(step >= expected, f"the newest complete checkpoint is step {step}; step {expected} was lost")
        first = StoredFile.read(self.recording.folder / RUN / "checkpoints" / f"step-{step:07d}.safetensors")
        case.expect(sorted(first.tensors) == sorted(point.weights)
                    and all(torch.equal(point.weights[k], v) for k, v in first.tensors.items()),
                    f"{relative(point.checkpoint, case.folder)} does not hold the weights of step {step}")
        return step

    # (b), (c), (d): the command after the fault

    def check_next_command(self, case: Case, step: int) -> None:
        if step:
            args = ["train", "--resume", RUN, "--steps", str(step + 1)]
        else:  # no checkpoint: the run starts again, as --resume auto does
            args = ["train", *TINY, "--out", RUN, "--resume", "auto", "--steps", "1"]
        code, stderr = self.server.run(case.folder, args)
        case.resumed = f"`gancli {' '.join(args[:4])} ...`: exit {code}"
        if code != 0:
            case.problems.append(f"`gancli {' '.join(args)}` failed (exit {code}): {stderr.strip()[-500:]!r}")
            return
        last = case.folder / RUN / "checkpoints" / "last.safetensors"
        case.expect(read_info(last).step == step + 1, f"{relative(last, case.folder)} is not at step {step + 1}")
        case.problems += partial_files(case.folder, torn_metrics_allowed=False)
        left = temporaries(case.folder)
        case.expect(not left, f"temporary files left after the next command: {', '.join(left)}")


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the in-process commands share the cores with the forked ones
    # Every training command collects garbage as it ends; what this process holds already
    # (pytest, torch) is not garbage, and collections that skip it take milliseconds.
    gc.freeze()
    yield
    gc.unfreeze()
    torch.set_num_threads(threads)


def test_every_write_failed_or_killed_in_turn_loses_nothing(tmp_path, one_thread, subtests):
    started, cpu_here = time.monotonic(), time.process_time()
    write_faults.install()
    runner = CliRunner()
    (tmp_path / "logs").mkdir()
    server = Server(tmp_path / "logs")
    try:
        recording = record(runner, tmp_path)
        harness = Harness(recording, runner, server)
        cases = [Case(site, fault, tmp_path / f"case-{number:03d}")
                 for number, (site, fault) in enumerate(itertools.product(recording.sites, FAULTS))]
        # Kills, and the commands after each fault, run in forked processes while this one
        # fails writes in turn: as many at a time as there are cores, this process being one.
        with ThreadPoolExecutor(max(1, os.cpu_count() or 2)) as pool:
            kills = [case for case in cases if case.fault == KILL]
            # A safetensors file's: killed inside safetensors' own write, which gancli's temporary names do not cover.
            alone = next(case for case in kills if case.site.first.kind == "safetensors")
            background = [pool.submit(harness.run_kill, case, case is alone) for case in kills]
            for case in cases:
                if case.fault != KILL and (step := harness.run_error(case)) is not None:
                    background.append(pool.submit(harness.check_next_command, case, step))
            for future in background:
                future.result()
    finally:
        server.close()
        write_faults.uninstall()

    counts = ", ".join(f"{sum(case.fault == fault for case in cases)} {fault}" for fault in FAULTS)
    resumes = sum(case.resumed.startswith("`") for case in cases)
    print(f"\n{len(recording.writes)} writes at {len(recording.sites)} sites; faults injected: {counts} "
          f"({len(cases)} in all), each followed by checks and {resumes} by a resume; "
          f"{time.monotonic() - started:.0f} s, CPU {time.process_time() - cpu_here:.0f} s here "
          f"and {server.cpu:.0f} s in forked processes")
    for site in recording.sites:
        print(f"  {site.describe()}")
    for case in cases:
        with subtests.test(msg=case.name):
            if case.problems:
                for applies, reason in KNOWN_DEFECTS:
                    if applies(case):
                        pytest.xfail(reason)
            assert not case.problems, f"{case.name} ({case.outcome}; {case.resumed}): " + "; ".join(case.problems)

"""Data-parallel training: two gloo processes under torchrun on the CPU, and what they leave behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gancli.checkpoints.format import read_info
from gancli.checkpoints.state import load_state
from gancli.cli import app
from gancli.cli.launch import without_nproc

TINY = ["--data", "synthetic", "--split", "test", "--batch-size", "8", "--device", "cpu",
        "--set", "model.g_channels=64", "--set", "model.d_channels=16", "--set", "model.latent_dim=16",
        "--set", "log_every=2", "--set", "sample_every=2", "--checkpoint-every", "2"]


def ranks_env(digests: Path) -> dict[str, str]:
    # Two processes share two loaded cores: one thread each.
    return {**os.environ, "OMP_NUM_THREADS": "1", "GANCLI_PARAMETER_DIGESTS": str(digests)}


def digests(folder: Path, rank: int) -> list[tuple[int, str]]:
    lines = (folder / f"rank-{rank}.txt").read_text().split("\n")
    return [(int(step), digest) for step, digest in (line.split() for line in lines if line)]


def test_two_processes_keep_identical_weights_write_one_run_and_resume_on_one(tmp_path):
    out, folder = tmp_path / "run", tmp_path / "digests"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    done = subprocess.run([*torchrun, "-m", "gancli", "train", *TINY, "--steps", "4", "--out", str(out)],
                          env=ranks_env(folder), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr

    # After every step both ranks hold the same parameters, and the parameters did change:
    # the ranks trained on different slices of each batch, so only all-reduced gradients agree.
    rank0, rank1 = digests(folder, 0), digests(folder, 1)
    assert [step for step, _ in rank0] == [1, 2, 3, 4]
    assert rank0 == rank1
    assert len({digest for _, digest in rank0}) == 4

    # One process wrote the run: one report, one metrics record per interval, one checkpoint set.
    assert done.stdout.count("Trained 4 steps") == 1
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == \
        ["last.safetensors", "step-0000002.safetensors", "step-0000004.safetensors"]
    assert sorted(p.name for p in (out / "state").iterdir()) == \
        ["last.safetensors", "step-0000002.safetensors", "step-0000004.safetensors"]
    for name in ("last", "step-0000004"):
        info = read_info(out / "checkpoints" / f"{name}.safetensors")
        assert info.step == 4 and info.checkpoint_id == load_state(out / "state" / f"{name}.safetensors").checkpoint_id
    # Saved unwrapped: the names are the networks' own, with no DistributedDataParallel prefix.
    assert not any(".module." in key for key in _keys(out / "checkpoints" / "last.safetensors"))

    # The run continues in a single process.
    resumed = CliRunner().invoke(app, ["train", "--resume", str(out), "--steps", "6"])
    assert resumed.exit_code == 0, resumed.output
    assert "Resuming" in resumed.output and "at step 4" in resumed.output
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4, 6]
    assert read_info(out / "checkpoints" / "last.safetensors").step == 6


def _keys(path: Path) -> list[str]:
    from safetensors import safe_open
    with safe_open(str(path), "pt") as file:
        return list(file.keys())


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            continue
        found += [int(c) for c in children]
        todo += [int(c) for c in children]
    return found


def _rank_pid(root: int, rank: int) -> int | None:
    for pid in _descendants(root):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RANK={rank}".encode() in environ and b"GANCLI_PARAMETER_DIGESTS" in b"\0".join(environ):
            return pid
    return None


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds the ranks through /proc")
def test_a_signal_to_one_rank_stops_both_at_the_same_step_with_one_checkpoint(tmp_path):
    out, folder = tmp_path / "run", tmp_path / "digests"
    # `--nproc 2` launches torchrun; SIGTERM goes to rank 1 alone.
    launcher = subprocess.Popen(
        [sys.executable, "-m", "gancli", "train", "--nproc", "2", *TINY, "--steps", "100000",
         "--checkpoint-every", "100000", "--set", "sample_every=0", "--out", str(out)],
        env=ranks_env(folder), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            rank1 = folder / "rank-1.txt"
            if rank1.exists() and len(rank1.read_text().splitlines()) >= 2:
                break
            assert launcher.poll() is None, launcher.communicate()
            time.sleep(0.2)
        pid = _rank_pid(launcher.pid, 1)
        assert pid is not None
        os.kill(pid, signal.SIGTERM)
        stdout, stderr = launcher.communicate(timeout=240)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode == 143  # 128 + SIGTERM, passed on by the launcher
    assert "Traceback" not in stderr
    stopped = digests(folder, 0)[-1][0]
    assert digests(folder, 0) == digests(folder, 1)  # both stopped after the same step, in step
    assert stderr.count("stopped by SIGTERM") == 1, stderr
    assert f"at step {stopped};" in stderr
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == \
        ["last.safetensors", f"step-{stopped:07d}.safetensors"]
    assert read_info(out / "checkpoints" / "last.safetensors").step == stopped


def test_sync_bn_in_a_single_process_is_refused_in_one_line(tmp_path):
    result = CliRunner().invoke(app, ["train", *TINY, "--steps", "1", "--sync-bn", "--out", str(tmp_path / "r")])
    assert result.exit_code == 1
    assert "sync_bn needs several processes" in result.output
    assert "Traceback" not in result.output


def test_nproc_is_not_passed_on_to_the_ranks():
    assert without_nproc(["train", "--nproc", "2", "--steps", "3", "--nproc=4"]) == ["train", "--steps", "3"]

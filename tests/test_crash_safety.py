"""Real training processes, stopped by real signals, and a real file-size limit on saving."""

import random
import resource
import signal
import subprocess
import sys
import time

import pytest
from conftest import TINY_MODEL, tiny_config

from gancli.checkpoints.format import read_info
from gancli.checkpoints.generator import load_generator
from gancli.training.reporting import Reporter
from gancli.training.run.resume import find_resume_point
from gancli.training.run.trainer import train

TINY = ["--data", "synthetic", "--split", "test", "--batch-size", "8", "--device", "cpu",
        "--set", "sample_every=0", "--set", "log_every=1", *[f"--set=model.{k}={v}" for k, v in TINY_MODEL.items()]]


def start_training(*args, **popen):
    command = [sys.executable, "-m", "gancli", "train", *TINY, *map(str, args)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def wait_for_steps(process, metrics, count):
    """Block until the run has logged `count` steps (or has ended)."""
    deadline = time.monotonic() + 300  # a guard against hanging, not an assertion on speed
    while process.poll() is None and time.monotonic() < deadline:
        if metrics.exists() and metrics.read_text().count("\n") >= count:
            return
        time.sleep(0.02)


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_sigint_and_sigterm_write_a_checkpoint_and_exit_with_128_plus_the_signal(tmp_path, signum, code):
    out = tmp_path / "run"
    process = start_training("--steps", 100_000, "--checkpoint-every", 100_000, "--out", out)
    wait_for_steps(process, out / "metrics.jsonl", 2)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == code, stderr
    last = out / "checkpoints" / "last.safetensors"
    step = read_info(last).step
    assert stderr.strip() == (f"Interrupted: stopped by {signal.Signals(signum).name} at step {step}; "
                              f"checkpoint: {last}; continue with: gancli train --resume {out}")
    assert step >= 2 and find_resume_point(out).state.step == step


def test_sigkill_at_random_moments_leaves_a_loadable_last_checkpoint_and_resume_finishes(tmp_path):
    out, steps = tmp_path / "run", 12
    rng = random.Random()
    for _ in range(3):
        process = start_training("--resume", "auto", "--out", out, "--steps", steps, "--checkpoint-every", 1)
        wait_for_steps(process, out / "metrics.jsonl", rng.randint(0, 3))
        time.sleep(rng.uniform(0.0, 0.5))  # anywhere: mid-step, mid-save, between the two files
        process.kill()
        process.wait()
        last = out / "checkpoints" / "last.safetensors"
        if last.exists():
            assert read_info(last).step >= 1
            load_generator(last)
    process = start_training("--resume", "auto", "--out", out, "--steps", steps, "--checkpoint-every", 1)
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    assert read_info(out / "checkpoints" / "last.safetensors").step == steps
    assert not list(out.rglob("*.tmp"))


def limit_file_size(limit):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write with EFBIG instead of dying
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_full_disk_while_saving_keeps_the_previous_checkpoint(tmp_path):
    out = tmp_path / "run"
    train(tiny_config(out, steps=2, sample_every=0), reporter=Reporter())
    last, state = out / "checkpoints" / "last.safetensors", out / "state" / "last.safetensors"
    before = last.read_bytes(), state.read_bytes()
    process = start_training("--resume", out, "--steps", 4, preexec_fn=limit_file_size(len(before[0]) // 2))
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 1
    assert stderr.startswith(f"Error: cannot write a checkpoint in {out / 'checkpoints'}: ")
    assert "File too large" in stderr and stderr.strip().endswith("the previous checkpoint is intact")
    assert "Traceback" not in stderr and stderr.count("\n") == 1
    assert (last.read_bytes(), state.read_bytes()) == before
    assert not list(out.rglob("*.tmp"))
    assert find_resume_point(out).state.step == 2


def test_keep_last_keeps_the_newest_numbered_checkpoints(tmp_path):
    result = train(tiny_config(tmp_path / "run", steps=3, checkpoint_every=1, keep_last=2, sample_every=0),
                   reporter=Reporter())
    names = sorted(p.name for p in (result.out / "checkpoints").iterdir())
    assert names == ["last.safetensors", "step-0000002.safetensors", "step-0000003.safetensors"]
    assert sorted(p.name for p in (result.out / "state").iterdir()) == names

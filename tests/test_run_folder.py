"""A run folder belongs to one run and one process: real trainers, real signals, real files."""

import json
import os
import signal
import stat
import subprocess
import sys
import time

import pytest
import yaml
from conftest import tiny_config
from safetensors.torch import save_file
from test_crash_safety import start_training, wait_for_steps

from gancli.checkpoints.format import read_info
from gancli.errors import GancliError
from gancli.training.reporting import Reporter
from gancli.training.run.resume import find_resume_point
from gancli.training.run.folder import RunFolder
from gancli.training.run.trainer import train


def logged_steps(out):
    return [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]


def finish(process):
    _, stderr = process.communicate(timeout=300)
    return process.returncode, stderr


def test_a_second_process_on_a_run_folder_is_refused_naming_the_holder(tmp_path):
    out = tmp_path / "run"
    first = start_training("--resume", "auto", "--steps", 100_000, "--checkpoint-every", 2, "--out", out)
    wait_for_steps(first, out / "metrics.jsonl", 3)
    assert (out / "checkpoints" / "last.safetensors").exists()

    code, stderr = finish(start_training("--resume", "auto", "--out", out, "--steps", 100_000))
    assert code == 1
    assert stderr == (f"Error: {out} is in use by another gancli process (PID {first.pid}); "
                      f"a run folder has one writer at a time: wait for it or stop it\n")

    first.send_signal(signal.SIGINT)
    code, stderr = finish(first)
    assert code == 130, stderr
    steps = logged_steps(out)
    assert steps == list(range(1, len(steps) + 1))  # one writer: no step logged twice
    point = find_resume_point(out)
    assert point.state.step == point.info.step == steps[-1]

    code, stderr = finish(start_training("--resume", out, "--steps", steps[-1] + 2))  # the lock died with it
    assert code == 0, stderr
    assert logged_steps(out) == list(range(1, steps[-1] + 3))


def foreign_folder(root):
    """A folder of someone else's files that look like a run's."""
    (root / "checkpoints").mkdir(parents=True)
    (root / "metrics.jsonl").write_text('{"step": 1, "mine": true}\n')
    save_file({"w": __import__("torch").ones(3)}, str(root / "checkpoints" / "last.safetensors"))
    save_file({"w": __import__("torch").zeros(3)}, str(root / "checkpoints" / "step-0000099.safetensors"))
    return {path: path.read_bytes() for path in root.rglob("*") if path.is_file()}


def test_out_on_a_folder_that_is_not_a_run_is_refused_and_left_as_it_was(tmp_path):
    out = tmp_path / "mine"
    before = foreign_folder(out)
    for extra in ([], ["--overwrite"], ["--resume", "auto"]):
        code, stderr = finish(start_training("--steps", 2, "--keep-last", 1, "--out", out, *extra))
        assert code == 1, stderr
        assert stderr.startswith(f"Error: {out} is not empty and holds no gancli run (checkpoints, metrics.jsonl)")
        assert stderr.count("\n") == 1
    assert {path: path.read_bytes() for path in out.rglob("*") if path.is_file()} == before


def test_keep_last_never_deletes_a_checkpoint_this_run_did_not_write(tmp_path):
    other = train(tiny_config(tmp_path / "other", steps=1, checkpoint_every=1, sample_every=0), reporter=Reporter())
    out = tmp_path / "run"
    train(tiny_config(out, steps=2, checkpoint_every=1, sample_every=0), reporter=Reporter())
    planted = out / "checkpoints" / "step-0000099.safetensors"  # another run's checkpoint, dropped in
    planted.write_bytes(other.last_checkpoint.read_bytes())
    train(tiny_config(out, steps=5, checkpoint_every=1, sample_every=0, keep_last=2), reporter=Reporter(), resume=out)
    names = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert names == ["last.safetensors", "step-0000004.safetensors", "step-0000005.safetensors",
                     "step-0000099.safetensors"]
    assert planted.read_bytes() == other.last_checkpoint.read_bytes()


def test_overwrite_killed_mid_run_leaves_nothing_of_the_old_run_to_mistake_for_the_new(tmp_path):
    out = tmp_path / "run"
    train(tiny_config(out, steps=6, checkpoint_every=2, sample_every=0, seed=0), reporter=Reporter())
    new = start_training("--overwrite", "--seed", 1, "--steps", 100_000, "--checkpoint-every", 1, "--out", out)
    deadline = time.monotonic() + 300  # a guard against hanging, not an assertion on speed
    while new.poll() is None and time.monotonic() < deadline and not (
            any(out.glob("replaced-*")) and (out / "checkpoints" / "step-0000003.safetensors").exists()):
        time.sleep(0.01)
    new.kill()
    new.wait()

    point = find_resume_point(out)
    assert point.config["seed"] == 1 and 1 <= point.state.step < 6
    assert yaml.safe_load((out / "config.yaml").read_text())["seed"] == 1
    (aside,) = out.glob("replaced-*")  # the old run, whole
    assert read_info(aside / "checkpoints" / "last.safetensors").step == 6
    assert yaml.safe_load((aside / "config.yaml").read_text())["seed"] == 0
    assert sorted(p.name for p in (aside / "checkpoints").iterdir()) == [
        "last.safetensors", "step-0000002.safetensors", "step-0000004.safetensors", "step-0000006.safetensors"]

    resumed_at = point.state.step
    result = train(tiny_config(out, steps=resumed_at + 3, checkpoint_every=1, sample_every=0, seed=1,
                               keep_last=2), reporter=Reporter(), resume=out)
    assert result.steps == resumed_at + 3
    assert yaml.safe_load((out / "config.yaml").read_text())["seed"] == 1
    numbered = sorted(p.name for p in (out / "checkpoints").glob("step-*"))
    assert numbered == [f"step-{s:07d}.safetensors" for s in (resumed_at + 2, resumed_at + 3)]
    assert read_info(aside / "checkpoints" / "last.safetensors").step == 6  # the old run is untouched


def test_an_overwrite_stopped_while_moving_the_old_run_aside_is_finished_by_another(tmp_path, monkeypatch):
    out = tmp_path / "run"
    train(tiny_config(out, steps=2, checkpoint_every=1, sample_every=0), reporter=Reporter())
    real_replace, moved = os.replace, []

    def killed_after_one_move(source, target):
        if moved:
            raise KeyboardInterrupt  # as a kill between two moves would stop it
        moved.append(source)
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", killed_after_one_move)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(out, steps=2, seed=5), reporter=Reporter(), overwrite=True)
    monkeypatch.setattr(os, "replace", real_replace)
    assert moved == [out / "config.yaml"]  # the old run stopped being a run at the first move

    with pytest.raises(GancliError, match="holds no gancli run"):
        find_resume_point(out)
    with pytest.raises(GancliError, match="holds the remains of a run that --overwrite was replacing"):
        train(tiny_config(out, steps=2, seed=5), reporter=Reporter())
    result = train(tiny_config(out, steps=2, seed=5, sample_every=0), reporter=Reporter(), overwrite=True)
    assert find_resume_point(out).config["seed"] == 5 and result.steps == 2
    (aside,) = out.glob("replaced-*")  # finished into the folder the stopped move was filling: the old run whole
    assert (aside / "config.yaml").exists() and len(list(aside.glob("checkpoints/step-*"))) == 2


def test_resume_removes_the_temporary_files_of_killed_writes_in_every_folder(tmp_path):
    out = tmp_path / "run"
    train(tiny_config(out, steps=2, sample_every=1), reporter=Reporter())
    leftovers = [out / ".config.yaml.abc.tmp", out / ".metrics.jsonl.abc.tmp",
                 out / "state" / ".step-0000003.safetensors.abc.tmp", out / "checkpoints" / ".last.safetensors.x.tmp",
                 out / "samples" / ".step-0000003.png.abc.tmp"]
    for path in leftovers:
        path.write_bytes(b"cut short")
    train(tiny_config(out, steps=3), reporter=Reporter(), resume=out)
    assert not [path for path in leftovers if path.exists()]


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_get_the_mode_an_ordinary_open_gives_under_the_umask(tmp_path, umask, mode):
    out = tmp_path / "run"
    code, stderr = finish(start_training("--steps", 2, "--checkpoint-every", 1, "--out", out,
                                         preexec_fn=lambda: os.umask(umask)))
    assert code == 0, stderr
    files = [path for path in out.rglob("*") if path.is_file()]
    assert {oct(stat.S_IMODE(path.stat().st_mode)) for path in files} == {oct(mode)}, files


def test_a_second_signal_stops_at_once_and_says_what_was_kept(tmp_path):
    out = tmp_path / "run"
    process = start_training("--steps", 100_000, "--checkpoint-every", 1, "--out", out)
    wait_for_steps(process, out / "metrics.jsonl", 2)
    # Two different signals at once: the first asks for a checkpoint and a stop, the second
    # (handled right after it) stops at once, wherever the loop is, mid-checkpoint included.
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGTERM)
    code, stderr = finish(process)
    assert code == 130
    assert stderr.count("\n") == 1 and "Traceback" not in stderr
    point = find_resume_point(out)
    assert stderr.startswith("Interrupted: stopped at once by a second signal after SIGINT, at step ")
    assert stderr.strip().endswith(f"the newest complete checkpoint is {point.checkpoint} (step {point.state.step}); "
                                   f"continue with: gancli train --resume {out}")


def test_the_run_folder_promises_are_in_the_readme():
    readme = (__import__("pathlib").Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("### What a run folder promises", 1)[1].split("\n## ", 1)[0]
    for promise in ("one process", "--overwrite", "replaced-", "SIGKILL", "1 MiB"):
        assert promise in section


def test_holds_run_needs_a_gancli_config(tmp_path):
    (tmp_path / "config.yaml").write_text("my: own settings\n")
    assert not RunFolder(tmp_path).holds_run()
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"arch": "dcgan", "data": "synthetic"}))
    assert RunFolder(tmp_path).holds_run()


def test_the_lock_outlives_no_process(tmp_path):
    out = tmp_path / "run"
    script = ("import os, sys; from gancli.training.run.lock import RunLock; "
              f"RunLock({str(out)!r}).acquire(); os.kill(os.getpid(), 9)")
    subprocess.run([sys.executable, "-c", script], check=False)
    assert (out / ".gancli.lock").exists()
    train(tiny_config(out, steps=1, sample_every=0), reporter=Reporter())  # SIGKILL left no stale lock


def test_resume_auto_finishes_an_overwrite_that_was_killed_while_moving(tmp_path, monkeypatch):
    from test_crash_safety import TINY
    from typer.testing import CliRunner

    from gancli.cli import app

    out = tmp_path / "run"
    train(tiny_config(out, steps=1, checkpoint_every=0, sample_every=0), reporter=Reporter())  # no checkpoint
    (out / ".config.yaml.x1.tmp").write_text("a write cut short")
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda source, target: (real_replace(source, target), 1 / 0))
    with pytest.raises(ZeroDivisionError):  # stopped right after the first move
        RunFolder(out).move_aside()
    monkeypatch.setattr(os, "replace", real_replace)
    assert RunFolder(out).replacing()

    result = CliRunner().invoke(app, ["train", *TINY, "--resume", "auto", "--out", str(out), "--steps", "2"])
    assert result.exit_code == 0, result.output
    assert find_resume_point(out).state.step == 2
    assert not list(out.rglob("*.tmp"))  # deleted, not kept aside

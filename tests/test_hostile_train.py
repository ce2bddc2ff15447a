"""Hostile input to `gancli train`, as real processes: one `Error:` line, a non-zero exit, nothing lost.

Every case runs `python -m gancli train` in a subprocess (cwd: the test's tmp folder, so a stray
relative write would show) and checks what a user relies on: stderr is exactly one line starting
with `Error:`, the exit code is non-zero, files that existed are byte-identical afterwards, and
nothing appears outside the run folder. Independent commands of one test run side by side, since
each spends most of its second or two importing torch.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import TINY_MODEL
from PIL import Image

from gancli.checkpoints.format import read_info
from gancli.training.run.resume import find_resume_point
from gancli.training.run.folder import RunFolder

CPU = ["--device", "cpu", "--set", "sample_every=0", "--set", "log_every=1",
       *[f"--set=model.{key}={value}" for key, value in TINY_MODEL.items()]]
DIGITS = ["--data", "synthetic", "--split", "test", "--batch-size", "8"]
TIMEOUT = 300  # a guard against hanging, not an assertion on speed


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def environment(*paths: Path, **extra: str) -> dict[str, str]:
    """This process's environment, `paths` first on PYTHONPATH, tracebacks off, and no __pycache__
    written beside the modules a test puts there (it would show as a write outside the run)."""
    env = {key: value for key, value in os.environ.items() if key != "GANCLI_DEBUG"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([*map(str, paths), *filter(None, [env.get("PYTHONPATH")])])
    env.update(extra)
    return env


def start(cwd: Path, *args, env: dict[str, str] | None = None) -> subprocess.Popen:
    command = [sys.executable, "-m", "gancli", "train", *CPU, *map(str, args)]
    return subprocess.Popen(command, cwd=cwd, env=env or environment(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen) -> Result:
    stdout, stderr = process.communicate(timeout=TIMEOUT)
    return Result(process.returncode, stdout, stderr)


def run_together(*processes: subprocess.Popen) -> list[Result]:
    """Wait for processes started side by side."""
    return [finish(process) for process in processes]


def assert_one_line_error(result: Result, *fragments: str) -> str:
    assert result.code > 0, (result.code, result.stdout, result.stderr)  # an exit, not a signal
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def listing(root: Path, *skip: Path) -> dict[str, object]:
    """Every path under `root` but those under `skip`: a file's bytes, a link's target, a folder's None.

    A run's `.gancli.lock` is left out: every command on a run folder takes the lock first (before
    it reads what it would resume) and stamps it with its PID, refused or not; it holds nothing else."""
    skipped = {Path(p) for p in skip}
    found: dict[str, object] = {}
    for folder, subfolders, files in os.walk(root):
        here = Path(folder)
        subfolders[:] = [name for name in subfolders if here / name not in skipped]
        for name in subfolders + files:
            path = here / name
            if path in skipped or name == ".gancli.lock":
                continue
            key = str(path.relative_to(root))
            found[key] = os.readlink(path) if path.is_symlink() else None if path.is_dir() else path.read_bytes()
    return found


def without_caches(files: dict[str, object]) -> dict[str, object]:
    # The folder dataset caches what it decoded in FOLDER/.gancli-cache/ (documented in
    # gancli/datasets/folder.py): the one write beside the run folder that is gancli's by design.
    return {key: value for key, value in files.items() if ".gancli-cache" not in Path(key).parts}


def copy_run(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, symlinks=True)
    return target


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished 2-step run with a checkpoint per step; tests copy it and never change it.

    Its config file is UTF-8 with a byte-order mark (legitimately readable: it is UTF-8) and sets
    augment, which `--augment ""` then turns off (an empty list means none, as `--r1 0` does)."""
    root = tmp_path_factory.mktemp("hostile-train")
    config = root / "bom.yaml"
    config.write_bytes("\ufeffaugment: [color]\nkeep_last: 5\n".encode("utf-8"))
    result = finish(start(root, *DIGITS, "--steps", 2, "--checkpoint-every", 1, "--config", config,
                          "--augment", "", "--out", root / "finished"))
    assert result.code == 0, result.stderr
    return root / "finished"


# -- 1. --conditional on data without usable labels ----------------------------------------------

LABELLED_PLUGIN = '''
import torch
from gancli.datasets import DatasetSource, ImageShape, Images

class TwoClasses(DatasetSource):
    native_shape = ImageShape(3, 32, 32)
    labelled = True
    class_names = ("zero", "one")
    labels = (0, 1)

    def load(self, request):
        pixels = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
        return Images(pixels, torch.tensor(self.labels * 8))

class Beyond(TwoClasses):
    labels = (0, 5)

class Negative(TwoClasses):
    labels = (0, -1)

beyond, negative = Beyond(), Negative()
'''


def write_package(site: Path, name: str, entry_points: dict[str, dict[str, str]], modules: dict[str, str]) -> Path:
    """A distribution on disk as pip leaves it (as conftest's install_package writes one), for
    a subprocess to find through PYTHONPATH."""
    dist_info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    lines = []
    for group, names in entry_points.items():
        lines += [f"[{group}]", *(f"{key} = {value}" for key, value in names.items())]
    (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for module, source in modules.items():
        (site / f"{module}.py").write_text(source)
    return site


def image_folder(root: Path, subfolders: list[str | None], count: int = 8) -> Path:
    for i in range(count):
        folder = root / (subfolders[i % len(subfolders)] or "")
        folder.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (32, 32), (30 * i, 100, 200 - 20 * i)).save(folder / f"{i}.png")
    return root


def test_conditional_needs_labels_two_classes_and_labels_in_range(tmp_path):
    unlabelled = image_folder(tmp_path / "photos", [None])
    one_class = image_folder(tmp_path / "cats-only", ["cats"])
    entries = {name: f"hostile_labels:{name}" for name in ("beyond", "negative")}
    site = write_package(tmp_path / "site", "hostile-labels", {"gancli.datasets": entries},
                         {"hostile_labels": LABELLED_PLUGIN})
    before = listing(tmp_path)
    folder_args = ["--batch-size", 4, "--steps", 1, "--conditional"]
    plugin_env = environment(site)
    results = run_together(
        start(tmp_path, "--data", f"folder:{unlabelled}", *folder_args, "--out", tmp_path / "run-a"),
        start(tmp_path, "--data", f"folder:{one_class}", *folder_args, "--out", tmp_path / "run-b"),
        start(tmp_path, "--data", "beyond", "--batch-size", 4, "--steps", 1, "--conditional",
              "--out", tmp_path / "run-c", env=plugin_env),
        start(tmp_path, "--data", "negative", "--batch-size", 4, "--steps", 1, "--conditional",
              "--out", tmp_path / "run-d", env=plugin_env),
    )
    assert_one_line_error(results[0], f"folder:{unlabelled}", "no class labels", "subfolder per class")
    # One class is nothing to condition on: a conditional GAN of one class is an unconditional one.
    assert_one_line_error(results[1], f"folder:{one_class}", "one class", "cats")
    assert_one_line_error(results[2], "beyond", "label 5", "2 classes")
    assert_one_line_error(results[3], "negative", "label -1")
    assert without_caches(listing(tmp_path)) == before  # no run folder, nothing else


# -- 2. and 3. --augment and --r1 values ---------------------------------------------------------

def test_bad_augment_names_and_r1_values_are_one_line_each(tmp_path):
    cases = [(("--augment", "nosuch"), ["augment", "nosuch", "color, translation, cutout"]),
             (("--augment", "color,,"), ["--augment", "color,,", "empty"]),  # a typo, not a request for color
             (("--r1", "-1"), ["r1", "-1"]),
             (("--r1", "nan"), ["r1", "nan"]),
             (("--r1", "inf"), ["r1", "inf"])]
    results = run_together(*(start(tmp_path, *DIGITS, "--steps", 1, *args, "--out", tmp_path / "run")
                             for args, _ in cases))
    for (args, fragments), result in zip(cases, results):
        assert_one_line_error(result, *fragments)
    assert list(tmp_path.iterdir()) == []


def test_an_empty_augment_means_none_and_a_utf8_config_with_a_bom_is_read(finished_run):
    # `--augment ""` is the way to turn off what a config file asked for, as `--r1 0` is; it is not
    # a mistake. And a byte-order mark is legal UTF-8, which a config file is.
    config = yaml.safe_load((finished_run / "config.yaml").read_text())
    assert config["augment"] == [] and config["keep_last"] == 5


# -- 4. --logger tensorboard: missing, blocked, full disk -------------------------------------------

def test_tensorboard_that_cannot_import_or_cannot_write_is_one_line(tmp_path, finished_run):
    pytest.importorskip("tensorboard")
    broken = tmp_path / "broken-site"
    (broken / "tensorboard").mkdir(parents=True)
    (broken / "tensorboard" / "__init__.py").write_text('raise ImportError("no tensorboard here (a test stand-in)")\n')
    run = copy_run(finished_run, tmp_path / "run")
    # Root may write anywhere, so a chmod proves nothing; a plain file where RUN/tensorboard/ goes
    # blocks the folder for everyone.
    (run / "tensorboard").write_text("my notes, not a folder\n")
    before, kept = listing(tmp_path), listing(run)
    missing, blocked = run_together(
        start(tmp_path, *DIGITS, "--steps", 1, "--logger", "tensorboard", "--out", tmp_path / "new",
              env=environment(broken)),
        start(tmp_path, "--resume", run, "--steps", 4, "--logger", "tensorboard"))
    assert_one_line_error(missing, "tensorboard", 'pip install "gancli[tensorboard]"')
    assert_one_line_error(blocked, str(run / "tensorboard"))
    assert listing(tmp_path) == before and listing(run) == kept  # the refused resume changed nothing
    assert find_resume_point(run).state.step == 2


@contextlib.contextmanager
def mounted(target: Path, *mount_args: str):
    target.mkdir(parents=True, exist_ok=True)
    made = subprocess.run(["mount", *mount_args, str(target)], capture_output=True, text=True)
    if made.returncode:
        pytest.skip(f"cannot mount here ({made.stderr.strip() or made.returncode}): the case needs root")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


def test_tensorboard_on_a_full_disk_is_one_line_and_keeps_the_checkpoint(tmp_path, finished_run):
    pytest.importorskip("tensorboard")
    run = copy_run(finished_run, tmp_path / "run")
    checkpoints = listing(run / "checkpoints")
    # A file system of one page where the event files go: the disk fills under tensorboard's own
    # writer thread, at the first sample grid, while everything else of the run still fits.
    with mounted(run / "tensorboard", "-t", "tmpfs", "-o", "size=4k", "tmpfs"):
        result = finish(start(tmp_path, "--resume", run, "--steps", 10, "--checkpoint-every", 100,
                              "--logger", "tensorboard", "--sample-every", 1))
    assert_one_line_error(result, f"cannot write {run / 'tensorboard'}: No space left on device",
                          "checkpoints/last.safetensors, is intact")
    assert listing(run / "checkpoints") == checkpoints
    assert find_resume_point(run).state.step == 2
    assert yaml.safe_load((run / "status.json").read_text())["state"] == "failed"
    assert not list(run.rglob("*.tmp"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


# -- 5. a resume that changes what defines the run ------------------------------------------------

def test_a_resume_cannot_switch_conditional_or_augment(tmp_path, finished_run):
    first, second = copy_run(finished_run, tmp_path / "a"), copy_run(finished_run, tmp_path / "b")
    before = listing(tmp_path)
    conditional, augment = run_together(start(tmp_path, "--resume", first, "--steps", 3, "--conditional"),
                                        start(tmp_path, "--resume", second, "--steps", 3, "--augment", "color"))
    assert_one_line_error(conditional, f"cannot resume {first}", "conditional was False, now True")
    assert_one_line_error(augment, f"cannot resume {second}", "augment was [], now ['color']")
    assert listing(tmp_path) == before
    assert find_resume_point(first).state.step == find_resume_point(second).state.step == 2


# -- 6. and 8. --overwrite on a live run, directly and through a link ------------------------------

def wait_for(condition, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert condition(), finish(process) if process.poll() is not None else "timed out"


def test_overwrite_on_a_live_run_is_refused_naming_its_holder_even_through_a_link(tmp_path):
    live_run = tmp_path / "runs" / "a"
    live = start(tmp_path, *DIGITS, "--steps", 100_000, "--checkpoint-every", 1, "--out", live_run)
    try:
        wait_for(lambda: (live_run / "checkpoints" / "last.safetensors").exists(), live)
        (tmp_path / "runs" / "b").symlink_to("a")
        config = (live_run / "config.yaml").read_bytes()
        outside = listing(tmp_path, live_run)
        direct, linked = run_together(
            start(tmp_path, *DIGITS, "--steps", 1, "--overwrite", "--out", live_run),
            start(tmp_path, *DIGITS, "--steps", 1, "--overwrite", "--out", tmp_path / "runs" / "b"))
        assert_one_line_error(direct, f"{live_run} is in use by another gancli process (PID {live.pid})")
        assert_one_line_error(linked, f"is in use by another gancli process (PID {live.pid})")
        assert live.poll() is None  # still training, in its own folder
        assert (live_run / "config.yaml").read_bytes() == config and not list(live_run.glob("replaced-*"))
        assert listing(tmp_path, live_run) == outside
    finally:
        live.send_signal(signal.SIGINT)
        result = finish(live)
    assert result.code == 130, result.stderr
    steps = [yaml.safe_load(line)["step"] for line in (live_run / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, len(steps) + 1))  # one writer all along
    assert find_resume_point(live_run).state.step == steps[-1]


def test_out_through_a_link_to_a_finished_run_never_clobbers_it(tmp_path, finished_run):
    (tmp_path / "runs").mkdir()
    first, second = copy_run(finished_run, tmp_path / "runs" / "a"), copy_run(finished_run, tmp_path / "runs" / "c")
    (tmp_path / "runs" / "b").symlink_to("a")
    (tmp_path / "runs" / "d").symlink_to("c")
    kept = listing(first)
    plain, overwrite = run_together(
        start(tmp_path, *DIGITS, "--steps", 1, "--out", "runs/b"),
        start(tmp_path, *DIGITS, "--steps", 1, "--overwrite", "--out", "runs/d"))
    assert_one_line_error(plain, "runs/b", "already holds a run")
    assert listing(first) == kept
    # --overwrite asks for a new run where the link points; the old run is not clobbered but moved,
    # whole, into c/replaced-TIME/, and the output says where it went.
    assert overwrite.code == 0, overwrite.stderr
    (aside,) = second.glob("replaced-*")
    assert listing(aside) == kept
    assert aside.name in overwrite.stdout
    assert read_info(second / "checkpoints" / "last.safetensors").step == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["a", "b", "c", "d"]


# -- 7. SIGKILL in the middle of --overwrite's moves ----------------------------------------------

KILL_HOOK = '''
import os, signal

_before = os.environ.get("HOSTILE_KILL_BEFORE_MOVE")
if _before is not None:
    _replace, _moves = os.replace, []

    def _replace_or_die(source, target, **kwargs):
        if os.path.basename(os.path.dirname(os.fspath(target))).startswith("replaced-"):
            if len(_moves) == int(_before):
                os.kill(os.getpid(), signal.SIGKILL)  # a real kill, between two of the moves
            _moves.append(source)
        return _replace(source, target, **kwargs)

    os.replace = _replace_or_die
'''


def test_sigkill_between_the_moves_of_overwrite_leaves_a_whole_run_and_the_next_command_finishes(tmp_path,
                                                                                              finished_run):
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(KILL_HOOK)
    old = listing(finished_run)
    kills = (0, 1, 3)  # before the first move, after config.yaml alone, half-way
    runs = {k: copy_run(finished_run, tmp_path / f"run{k}") for k in kills}
    killed = run_together(*(start(tmp_path, *DIGITS, "--steps", 1, "--overwrite", "--seed", 7, "--out", runs[k],
                                  env=environment(hooks, HOSTILE_KILL_BEFORE_MOVE=str(k))) for k in kills))
    assert [result.code for result in killed] == [-signal.SIGKILL] * len(kills)
    for k in kills:
        (aside,) = runs[k].glob("replaced-*")
        assert len(list(aside.iterdir())) == k
        assert RunFolder(runs[k]).holds_run() == (k == 0)  # the old run, else the remains of one
    # Killed before the first move, the old run is whole where it was, and resumes from its own
    # newest checkpoint.
    assert listing(runs[0], *runs[0].glob("replaced-*")) == old
    assert find_resume_point(runs[0]).checkpoint == runs[0] / "checkpoints" / "last.safetensors"
    # The remains are finished by --overwrite, or by --resume auto, which starts a run stopped
    # before its first checkpoint afresh.
    overwritten, restarted = run_together(
        start(tmp_path, *DIGITS, "--steps", 1, "--overwrite", "--seed", 7, "--out", runs[1]),
        start(tmp_path, *DIGITS, "--steps", 1, "--resume", "auto", "--seed", 7, "--out", runs[3]))
    for result in (overwritten, restarted):
        assert result.code == 0, result.stderr
    for k in (1, 3):
        (aside,) = runs[k].glob("replaced-*")  # the old run whole in one place, not split over two
        assert listing(aside) == old
        point = find_resume_point(runs[k])
        assert point.state.step == 1 and point.config["seed"] == 7


# -- 9. a checkpoint that is a link to a file outside the run -----------------------------------

def test_a_linked_last_checkpoint_is_never_written_through(tmp_path, finished_run):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    runs = [copy_run(finished_run, tmp_path / name) for name in ("resumed", "overwritten")]
    for number, run in enumerate(runs):
        target = outside / f"last{number}.safetensors"
        (run / "checkpoints" / "last.safetensors").replace(target)  # moved off the run, as to a bigger disk
        (run / "checkpoints" / "last.safetensors").symlink_to(target)
    before = listing(outside)
    resumed, overwritten = run_together(
        start(tmp_path, "--resume", runs[0], "--steps", 4, "--checkpoint-every", 1, "--keep-last", 1),
        start(tmp_path, *DIGITS, "--steps", 1, "--overwrite", "--out", runs[1]))
    assert resumed.code == 0 and overwritten.code == 0, (resumed.stderr, overwritten.stderr)
    assert listing(outside) == before
    last = runs[0] / "checkpoints" / "last.safetensors"
    assert not last.is_symlink() and read_info(last).step == 4
    assert "link" in resumed.stdout and str(outside / "last0.safetensors") in resumed.stdout
    kept = sorted(p.name for p in (runs[0] / "checkpoints").iterdir())
    assert kept == ["last.safetensors", "step-0000004.safetensors"]  # --keep-last 1: the newest of its own
    (aside,) = runs[1].glob("replaced-*")
    assert (aside / "checkpoints" / "last.safetensors").is_symlink()  # moved aside as it was
    assert aside.name in overwritten.stdout
    assert not (runs[1] / "checkpoints" / "last.safetensors").is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere", "overwritten", "resumed"]


# -- 10. a config file that is not UTF-8 ---------------------------------------------------------

def test_a_config_that_is_not_utf8_is_one_line_naming_it(tmp_path):
    files = {"latin1.yaml": "steps: 1\n# caf\u00e9 cr\u00e8me\n".encode("latin-1"),
             "utf16.yaml": "steps: 1\n".encode("utf-16"),  # with its byte-order mark
             "random.yaml": random.Random(0).randbytes(300)}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    before = listing(tmp_path)
    results = run_together(*(start(tmp_path, *DIGITS, "--config", tmp_path / name, "--out", tmp_path / "run")
                             for name in files))
    for name, result in zip(files, results):
        line = assert_one_line_error(result, str(tmp_path / name))
        assert "utf-8" in line.lower(), line
    assert listing(tmp_path) == before


# -- 11. a run folder on a read-only file system -------------------------------------------------

def test_resume_of_a_read_only_run_folder_is_one_line_and_loses_nothing(tmp_path, finished_run):
    source = copy_run(finished_run, tmp_path / "source")
    before = listing(tmp_path)
    with mounted(tmp_path / "readonly", "--bind", str(source)):
        if subprocess.run(["mount", "-o", "remount,bind,ro", str(tmp_path / "readonly")]).returncode:
            pytest.skip("cannot remount a bind mount read-only here")
        result = finish(start(tmp_path, "--resume", tmp_path / "readonly", "--steps", 4))
        assert_one_line_error(result, str(tmp_path / "readonly"), "Read-only file system")
        assert find_resume_point(tmp_path / "readonly").state.step == 2
    assert listing(tmp_path) == {**before, "readonly": None}


# -- 8. numbers and shapes past what gancli can hold ----------------------------------------------

def test_a_seed_past_its_range_is_one_line_from_a_flag_a_set_or_a_config(tmp_path):
    (tmp_path / "big.yaml").write_text(f"seed: {2**64}\n")
    flag, setting, config = run_together(start(tmp_path, "--seed", 2**63, "--out", tmp_path / "a"),
                                         start(tmp_path, "--set", f"seed={2**63}", "--out", tmp_path / "b"),
                                         start(tmp_path, "--config", tmp_path / "big.yaml", "--out", tmp_path / "c"))
    assert flag.code == 2 and "Invalid value for '--seed'" in flag.stderr and "Traceback" not in flag.stderr
    assert_one_line_error(setting, f"seed must be from 0 to {2**32 - 1}, got {2**63}")
    assert_one_line_error(config, f"seed must be from 0 to {2**32 - 1}, got {2**64}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.yaml"]


def test_yaml_nested_hundreds_of_levels_deep_is_one_line_from_a_config_or_a_set(tmp_path):
    (tmp_path / "deep.yaml").write_text("model:\n  x: " + "[" * 600 + "]" * 600 + "\n")
    from_file, from_set = run_together(
        start(tmp_path, "--config", tmp_path / "deep.yaml", "--out", tmp_path / "a"),
        start(tmp_path, "--set", "model.x=" + "{a: " * 3000 + "1" + "}" * 3000, "--out", tmp_path / "b"))
    assert_one_line_error(from_file, "deep.yaml nests deeper than 32 levels")
    assert_one_line_error(from_set, "--set 'model.x' nests deeper than 32 levels")


def test_a_new_run_on_a_full_disk_is_one_line_and_leaves_no_folder(tmp_path):
    with mounted(tmp_path / "disk", "-t", "tmpfs", "-o", "size=4k", "tmpfs") as disk:
        (disk / "filler").write_bytes(b"\0" * 4096)  # the one page the file system has
        result = finish(start(tmp_path, "--out", disk / "run", "--steps", 2))
        assert_one_line_error(result, f"cannot write the run folder {disk / 'run'}: No space left on device")
        assert sorted(p.name for p in disk.iterdir()) == ["filler"]

"""Hostile files and names for `sample`, `report`, `export`, `inspect` and `eval`, through real
`gancli` processes: a refusal is one `Error:` line and a non-zero exit, what existed before is
byte-identical after, and nothing is written beside the target.

The processes are started several at a time (each pays for importing torch), with an address-space
limit so that a command that tries to allocate what a file claims fails instead of exhausting
the machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_MODEL, tiny_config
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file

from gancli.checkpoints.format import read_info
from gancli.checkpoints.generator import load_generator
from gancli.sampling.output import SampleRequest, write_samples
from gancli.training.reporting import Reporter
from gancli.training.run.resume import find_resume_point
from gancli.training.run.trainer import train

MEMORY_LIMIT = 6 * 2**30  # bytes of address space per command: far above what the tiny runs need
PARALLEL = 3              # commands at once: each spends most of its time importing torch
TRAIN = ["--data", "synthetic", "--split", "test", "--batch-size", "8", "--device", "cpu",
         *[f"--set=model.{key}={value}" for key, value in TINY_MODEL.items()]]


# ---------------------------------------------------------------------------------------------
# Running gancli and judging what it did


@dataclass
class Outcome:
    label: str
    code: int
    out: str
    err: str
    seconds: float


def environment() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "GANCLI_DEBUG"}
    env["OMP_NUM_THREADS"] = "1"  # several commands share two cores
    return env


def command(*args, niceness: int = 0) -> list[str]:
    # The limits are set by a shell that then becomes gancli: preexec_fn is unsafe beside threads.
    limits = f"ulimit -v {MEMORY_LIMIT // 1024} && exec nice -n {niceness} \"$@\""
    return ["sh", "-c", limits, "sh", sys.executable, "-m", "gancli", *map(str, args)]


def start(*args, niceness: int = 0) -> subprocess.Popen:
    return subprocess.Popen(command(*args, niceness=niceness), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=environment())


def gancli(label: str, *args, timeout: float = 120) -> Outcome:
    began = time.monotonic()
    result = subprocess.run(command(*args), capture_output=True, text=True, env=environment(), timeout=timeout)
    return Outcome(label, result.returncode, result.stdout, result.stderr, time.monotonic() - began)


def run_all(cases: dict[str, tuple], timeout: float = 120) -> dict[str, Outcome]:
    """label -> gancli arguments, run PARALLEL at a time; label -> outcome."""
    with ThreadPoolExecutor(PARALLEL) as pool:
        futures = {label: pool.submit(gancli, label, *args, timeout=timeout) for label, args in cases.items()}
        return {label: future.result() for label, future in futures.items()}


def describe(outcome: Outcome) -> str:
    lines = outcome.err.strip().splitlines()
    if "Traceback" in outcome.err:
        return f"exit {outcome.code}, traceback {len(lines)} lines, ending {lines[-1][:160]!r}"
    shown = lines[0][:200] if lines else "(no stderr)"
    return f"exit {outcome.code}, {len(lines)} stderr line(s): {shown!r}"


def refusal_problems(outcome: Outcome, *named: str) -> list[str]:
    """What is wrong with `outcome` as a refusal: one `Error:` line naming each of `named`."""
    lines = outcome.err.strip().splitlines()
    if outcome.code == 0 or "Traceback" in outcome.err or len(lines) != 1 or not lines[0].startswith("Error:"):
        return [f"{outcome.label}: {describe(outcome)}"]
    missing = [text for text in named if text not in lines[0]]
    return [f"{outcome.label}: the line does not name {missing}: {lines[0]!r}"] if missing else []


def success_problems(outcome: Outcome) -> list[str]:
    if outcome.code != 0 or outcome.err.strip():
        return [f"{outcome.label}: should succeed, got {describe(outcome)}"]
    return []


def snapshot(root: Path) -> dict[str, str]:
    """Every file and folder under `root`, with each file's content hash."""
    return {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "/"
            for path in sorted(root.rglob("*"))}


def changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    added = sorted(set(after) - set(before))
    lost = sorted(set(before) - set(after))
    altered = sorted(name for name in set(before) & set(after) if before[name] != after[name])
    return ([f"written: {name}" for name in added] + [f"lost: {name}" for name in lost]
            + [f"changed: {name}" for name in altered])


def rewrite(source: Path, target: Path, metadata: dict[str, str]) -> Path:
    """`source` saved again as `target` with some metadata replaced: a forged checkpoint."""
    with safe_open(str(source), framework="pt") as f:
        tensors = {name: f.get_tensor(name) for name in f.keys()}
        meta = f.metadata()
    meta.update(metadata)
    save_file(tensors, str(target), metadata=meta)
    return target


def copy_run(run: Path, target: Path) -> Path:
    shutil.copytree(run, target, ignore=shutil.ignore_patterns(".gancli.lock"))
    return target


# ---------------------------------------------------------------------------------------------
# Runs the cases read


@pytest.fixture(scope="module")
def plain(tiny_run):
    return tiny_run.out


@pytest.fixture(scope="module")
def conditional(conditional_run):
    return conditional_run.out


@pytest.fixture(scope="module")
def gridless(tmp_path_factory):
    """A finished run trained with sample_every=0: no grid at all."""
    out = tmp_path_factory.mktemp("hostile") / "gridless"
    return train(tiny_config(out, steps=2, sample_every=0), reporter=Reporter()).out


# A folder's name cannot hold '/', so `</script>` goes in the data folder's path and the class
# subfolders carry tags without one. The report shows no class names today; whatever it shows
# must stay text.
INJECTED_DATA = "<script>alert(1)</script>"     # in the data folder's path
INJECTED_CLASSES = ("<img src=x onerror=alert(1)>", "<svg onload=alert(1)>")  # class subfolders
INJECTED_RUN = "<img src=x onerror=alert(2)>"    # the run folder's name
INJECTED_SETTING = "<script>alert(3)</script>"   # a string setting of the config


@pytest.fixture(scope="module")
def injected(tmp_path_factory):
    """A conditional run on a folder dataset whose path, class names, run name and a setting are HTML."""
    root = tmp_path_factory.mktemp("hostile")
    data = root / "<script>alert(1)<" / "script>"  # the path's text holds INJECTED_DATA
    assert INJECTED_DATA in str(data)
    rng = np.random.default_rng(0)
    for name in INJECTED_CLASSES:
        (data / name).mkdir(parents=True)
        for index in range(8):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(data / name / f"{index}.png")
    config = tiny_config(root / INJECTED_RUN, data=f"folder:{data}", split=None, image_size=32, steps=2,
                         conditional=True, inception=INJECTED_SETTING)
    return train(config, reporter=Reporter()).out


# ---------------------------------------------------------------------------------------------
# 1. sample --class with names the checkpoint does not have


def test_sample_class_with_an_unknown_name_names_it_and_lists_the_classes(conditional, tmp_path):
    checkpoint = shutil.copy(conditional / "checkpoints" / "last.safetensors", tmp_path / "conditional.safetensors")
    classes = read_info(checkpoint).classes
    before = snapshot(tmp_path)
    names = {"zebra": "zebra", "99": "99", "minus_one": "-1", "empty": ""}
    outcomes = run_all({label: ("sample", checkpoint, "--class", name, "-n", 1, "-o", tmp_path / f"{label}.png")
                        for label, name in names.items()})
    problems = []
    for label, name in names.items():
        problems += refusal_problems(outcomes[label], "--class", repr(name), ", ".join(classes[:4]))
    problems += changes(before, snapshot(tmp_path))
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------------------------
# 2. report: missing, empty and damaged metrics, a run training right now, HTML in names


class Elements(HTMLParser):
    """The page as a browser builds it: its elements with their attributes, and its text."""

    def __init__(self, page: str):
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(page)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def page_problems(page: str) -> list[str]:
    """Elements or attributes in `page` that could run code or fetch something."""
    problems = []
    for tag, attributes in Elements(page).elements:
        if tag in ("script", "iframe", "object", "embed", "link", "base", "form"):
            problems.append(f"a <{tag}> element")
        problems += [f"<{tag} {name}=...>" for name in attributes if name.startswith("on")]
        if tag == "img" and not (attributes.get("src") or "").startswith("data:image/"):
            problems.append(f"<img src={attributes.get('src')!r}>")
    return problems


def damaged_metrics(text: str) -> dict[str, str | None]:
    lines = text.splitlines(keepends=True)
    assert len(lines) >= 2
    return {
        "missing": None,
        "empty": "",
        # A line of garbage, a record of valid JSON with values of the wrong types (a hand edit,
        # another tool), and the last line cut mid-JSON by a kill.
        "damaged": lines[0] + "\x00\x7f{not json at all ]]\n"
                   + json.dumps({"step": 3, "loss_d": "high", "loss_g": None, "d_real": [1], "fid": "n/a",
                                 "images_per_s": {"x": 1}, "d_fake": True}) + "\n"
                   + "".join(lines[1:-1]) + lines[-1][: len(lines[-1]) // 2],
    }


def test_report_on_missing_empty_or_damaged_metrics_still_writes_the_page(plain, tmp_path):
    # Not an error: a run killed before its first log line has no metrics, and a kill can cut the
    # last line short; the report shows what the run folder holds and skips what it cannot read.
    variants = damaged_metrics((plain / "metrics.jsonl").read_text())
    for name, text in variants.items():
        run = copy_run(plain, tmp_path / name)
        if text is None:
            (run / "metrics.jsonl").unlink()
        else:
            (run / "metrics.jsonl").write_text(text)
    before = snapshot(tmp_path)
    outcomes = run_all({name: ("report", tmp_path / name) for name in variants})
    problems = []
    for name, outcome in outcomes.items():
        problems += success_problems(outcome)
        page = tmp_path / name / "report.html"
        if page.exists():
            problems += [f"{name}: {problem}" for problem in page_problems(page.read_text())]
            if variants[name] and "<svg" not in page.read_text():
                problems.append(f"{name}: no curves drawn from the readable lines")
    written = changes(before, snapshot(tmp_path))
    problems += [change for change in written
                 if not (change.startswith("written: ") and change.endswith("/report.html"))]
    assert not problems, "\n".join(problems)


def test_report_of_a_run_training_right_now_works_and_leaves_the_run_intact(tmp_path):
    out = tmp_path / "live"
    # Niced, so that the reports it races with get the cores first; it still writes a checkpoint
    # every step, and a grid and its timelapse every few.
    trainer = start("train", *TRAIN, "--steps", 100_000, "--log-every", 1, "--sample-every", 5,
                    "--checkpoint-every", 1, "--keep-last", 2, "--out", out, niceness=10)
    try:
        deadline = time.monotonic() + 120
        while trainer.poll() is None and time.monotonic() < deadline:
            if list(out.glob("samples/step-*.png")):  # its first grid: the timelapse has a frame
                break
            time.sleep(0.05)
        assert trainer.poll() is None, trainer.communicate()[1][-2000:]
        outcomes = run_all({"report": ("report", out), "timelapse": ("report", out, "--timelapse")})
        assert trainer.poll() is None, "training stopped while the report read it"
    finally:
        trainer.send_signal(signal.SIGINT)
        _, trainer_err = trainer.communicate(timeout=120)
    problems = []
    for outcome in outcomes.values():
        problems += success_problems(outcome)
    if (out / "report.html").exists():
        problems += page_problems((out / "report.html").read_text())
    # The run goes on as if no report had been made: it stops cleanly, and resumes from its checkpoint.
    if trainer.returncode != 130 or len(trainer_err.strip().splitlines()) != 1:
        problems.append(f"training: exit {trainer.returncode}, stderr {trainer_err[-1000:]!r}")
    for line in (out / "metrics.jsonl").read_text().splitlines():
        json.loads(line)
    step = read_info(out / "checkpoints" / "last.safetensors").step
    load_generator(out / "checkpoints" / "last.safetensors")
    assert find_resume_point(out).state.step == step
    assert not problems, "\n".join(problems)


def test_report_escapes_html_in_the_data_path_class_names_run_name_and_settings(injected, tmp_path):
    run = copy_run(injected, tmp_path / INJECTED_RUN)
    before = snapshot(tmp_path)
    outcome = gancli("injected", "report", run, "-o", tmp_path / "report.html")
    problems = success_problems(outcome)
    page = (tmp_path / "report.html").read_text() if (tmp_path / "report.html").exists() else ""
    problems += page_problems(page)
    text = "".join(Elements(page).text)
    # Shown as text, not dropped: the page tells the user what the run was.
    problems += [f"{value!r} is not shown as text" for value in (INJECTED_DATA, INJECTED_RUN, INJECTED_SETTING)
                 if value not in text]
    problems += [change for change in changes(before, snapshot(tmp_path)) if change != "written: report.html"]
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------------------------
# 3. The timelapse of a run without grids, of grids that are not images, and into a new folder


def test_timelapse_without_grids_or_with_a_broken_grid_is_one_line(gridless, plain, tmp_path):
    no_grids = copy_run(gridless, tmp_path / "gridless")
    broken = copy_run(plain, tmp_path / "broken")
    grids = sorted((broken / "samples").glob("step-*.png"))
    grids[-1].write_bytes(grids[-1].read_bytes()[:100])  # cut short, as a full disk could leave it
    whole = copy_run(plain, tmp_path / "whole")
    before = snapshot(tmp_path)
    outcomes = run_all({"no_grids": ("report", no_grids, "--timelapse"),
                        "broken_grid": ("report", broken, "--timelapse"),
                        "new_folder": ("report", whole, "--timelapse", "-o", tmp_path / "new" / "t.gif")})
    problems = refusal_problems(outcomes["no_grids"], str(no_grids), "grids")
    problems += refusal_problems(outcomes["broken_grid"], str(grids[-1]))
    # Not an error: every other -o (sample, report, export) creates the folders it needs.
    problems += success_problems(outcomes["new_folder"])
    if (tmp_path / "new" / "t.gif").exists():
        with Image.open(tmp_path / "new" / "t.gif") as gif:
            problems += [] if gif.n_frames == len(grids) else [f"{gif.n_frames} frames, not {len(grids)}"]
    problems += [change for change in changes(before, snapshot(tmp_path))
                 if change not in ("written: new", "written: new/t.gif", "written: new/t.mp4")]
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------------------------
# 4. ONNX export of a conditional generator


def test_onnx_export_of_a_conditional_generator_takes_a_label(conditional, tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    before = snapshot(tmp_path)
    outcome = gancli("export", "export", conditional, "-o", tmp_path / "conditional.onnx")
    assert outcome.code == 0, describe(outcome)
    assert changes(before, snapshot(tmp_path)) == ["written: conditional.onnx"]
    model = load_generator(conditional / "checkpoints" / "last.safetensors")
    session = onnxruntime.InferenceSession(str(tmp_path / "conditional.onnx"), providers=["CPUExecutionProvider"])
    assert sorted(i.name for i in session.get_inputs()) == ["label", "latent"]
    latents = torch.randn(3, model.info.latent_dim, generator=torch.Generator().manual_seed(5))
    labels = torch.tensor([0, 4, 9])
    produced = session.run(["image"], {"latent": latents.numpy(), "label": labels.numpy()})[0]
    with torch.no_grad():
        expected = model.generator(latents, labels).numpy()
    assert produced.shape == (3, *model.info.image_shape.as_tuple())
    assert abs(produced - expected).max() < 1e-4


# ---------------------------------------------------------------------------------------------
# 5. SIGKILL while a large .npz is written


def kill_while_writing(plain: Path, folder: Path, count: int, delay: float) -> tuple[bytes, int, list[str]]:
    """Start `sample --format npz -o folder/out.npz`, SIGKILL it `delay` seconds after its temporary
    file appears; the old file's bytes, the exit code and the temporary files left."""
    out = folder / "out.npz"
    np.savez(out, images=np.zeros((2, 32, 32, 3), dtype=np.uint8))
    old = out.read_bytes()
    process = start("sample", plain, "--format", "npz", "-o", out, "-n", count, "--batch-size", 64)
    deadline = time.monotonic() + 60
    while process.poll() is None and not list(folder.glob(".out.npz.*")) and time.monotonic() < deadline:
        time.sleep(0.005)  # until the write has begun
    time.sleep(delay)
    process.kill()
    process.communicate()
    return old, process.returncode, sorted(path.name for path in folder.iterdir() if path.name != "out.npz")


def test_sigkill_while_writing_an_npz_leaves_the_old_file_or_the_complete_new_one(plain, tmp_path):
    count, rng = 12000, random.Random()
    delays = [rng.uniform(0, 1.0) for _ in range(3)]
    folders = [tmp_path / f"attempt{index}" for index in range(len(delays))]
    for folder in folders:
        folder.mkdir()
    with ThreadPoolExecutor(len(delays)) as pool:
        results = list(pool.map(lambda args: kill_while_writing(plain, *args), zip(folders, [count] * 3, delays)))
    killed_mid_write = 0
    for folder, delay, (old, code, left) in zip(folders, delays, results):
        out = folder / "out.npz"
        if out.read_bytes() != old:  # it finished before the kill: the complete new file
            with np.load(out, allow_pickle=False) as loaded:
                assert loaded["images"].shape == (count, 32, 32, 3) and loaded["images"].dtype == np.uint8, delay
        # A SIGKILL cannot be caught, so an unfinished temporary file may stay; it is hidden and
        # never under the final name.
        assert all(name.startswith(".out.npz.") and name.endswith(".tmp") for name in left), left
        killed_mid_write += code == -signal.SIGKILL and bool(left) and out.read_bytes() == old
    assert killed_mid_write, f"no kill landed mid-write (delays {delays}): the case tested nothing"


# ---------------------------------------------------------------------------------------------
# 6. Class names in a checkpoint's metadata that are paths


TRAVERSING_NAMES = ["../../x", "/abs/x", "a/../../b", "nul\x00x", "new\nline", "..", ".", "", "a/b", "a_b"]


def test_class_names_that_are_paths_never_write_outside_the_individual_folder(conditional, tmp_path):
    forged = rewrite(conditional / "checkpoints" / "last.safetensors", tmp_path / "forged.safetensors",
                     {"gancli.classes": json.dumps(TRAVERSING_NAMES)})
    long_names = [f"{'x' * 5000}{label}" for label in range(len(TRAVERSING_NAMES))]
    long = rewrite(forged, tmp_path / "long.safetensors", {"gancli.classes": json.dumps(long_names)})
    folder = tmp_path / "deep" / "er" / "images"
    before = snapshot(tmp_path)
    outcomes = run_all({"paths": ("sample", forged, "--individual", folder, "--class", "all", "-n", 1),
                        "long": ("sample", long, "--individual", tmp_path / "long-images", "--class", "all", "-n", 1)})
    problems = []
    for outcome in outcomes.values():
        problems += success_problems(outcome)
    outside = [change for change in changes(before, snapshot(tmp_path))
               if not change.startswith(("written: deep", "written: long-images"))]
    problems += [f"{change} outside DIR" for change in outside]
    for name, where in (("paths", folder), ("long", tmp_path / "long-images")):
        files = sorted(where.iterdir()) if where.is_dir() else []
        if len(files) != len(TRAVERSING_NAMES):
            problems.append(f"{name}: {len(files)} files for {len(TRAVERSING_NAMES)} images "
                            f"(names collide): {[f.name[:40] for f in files]}")
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------------------------
# 7. Metadata that claims huge shapes


def test_metadata_claiming_huge_shapes_is_one_line_without_allocating(plain, tmp_path):
    source = plain / "checkpoints" / "last.safetensors"
    hparams = json.loads(read_info(source).to_metadata()["gancli.hparams"])
    size = rewrite(source, tmp_path / "size.safetensors", {"gancli.image_shape": json.dumps([3, 10**6, 10**6])})
    pow2 = rewrite(source, tmp_path / "pow2.safetensors", {"gancli.image_shape": json.dumps([3, 2**20, 2**20])})
    latent = rewrite(source, tmp_path / "latent.safetensors", {
        "gancli.latent_dim": str(10**9), "gancli.hparams": json.dumps({**hparams, "latent_dim": 10**9})})
    channels = rewrite(source, tmp_path / "channels.safetensors", {"gancli.image_shape": json.dumps([10**5, 32, 32])})
    before = snapshot(tmp_path)
    outcomes = run_all({
        "sample_size": ("sample", size, "-n", 1, "-o", tmp_path / "size.png"),
        "sample_latent": ("sample", latent, "-n", 1, "-o", tmp_path / "latent.png"),
        "sample_channels": ("sample", channels, "-n", 1, "-o", tmp_path / "channels.png"),
        "eval_pow2": ("eval", pow2, "--metrics", "classifier", "--num", 16),
    })
    problems = []
    for label, outcome in outcomes.items():
        problems += refusal_problems(outcome, f"{label.split('_')[1]}.safetensors")
        if outcome.seconds > 30:
            problems.append(f"{label}: took {outcome.seconds:.0f} s")
    problems += changes(before, snapshot(tmp_path))
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------------------------
# 8. Truncated checkpoints


def test_truncated_checkpoints_are_one_line_for_every_command(plain, tmp_path):
    good = (plain / "checkpoints" / "last.safetensors").read_bytes()
    header_end = 8 + struct.unpack("<Q", good[:8])[0]
    cuts = {"in_length": 5, "in_header": header_end // 2, "at_data": header_end,
            "in_data": (header_end + len(good)) // 2, "last_byte": len(good) - 1}
    for name, cut in cuts.items():
        (tmp_path / f"{name}.safetensors").write_bytes(good[:cut])
    # inspect reads the header alone, so where the cut falls matters to it; sample, export and eval
    # read the whole file through one function, so the cuts are shared out among them.
    commands = {"inspect": ["in_header", "at_data", "in_data"], "sample": ["in_length", "last_byte"],
                "export": ["in_header"], "eval": ["at_data"]}
    flags = {"inspect": (), "sample": ("-n", 1, "-o"), "export": ("-o",),
             "eval": ("--metrics", "classifier", "--num", 16)}
    cases = {}
    for verb, names in commands.items():
        for name in names:
            out = (tmp_path / f"{name}-{verb}.out",) if flags[verb][-1:] == ("-o",) else ()
            cases[f"{verb}_{name}"] = (verb, tmp_path / f"{name}.safetensors", *flags[verb], *out)
    before = snapshot(tmp_path)
    outcomes = run_all(cases)
    problems = []
    for label, outcome in outcomes.items():
        problems += refusal_problems(outcome, f"{label.split('_', 1)[1]}.safetensors", "truncated")
    problems += changes(before, snapshot(tmp_path))
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------------------------
# 9. Two processes writing one output


def reference(checkpoint: Path, seed: int, fmt: str, folder: Path, n: int) -> np.ndarray:
    path = folder / f"reference-{seed}.{fmt}"
    write_samples(SampleRequest(checkpoint, path, n=n, seed=seed, format=fmt, device="cpu"))
    return read_images(path)


def read_images(path: Path) -> np.ndarray:
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as loaded:
            return loaded["images"]
    with Image.open(path) as image:
        image.load()
        return np.asarray(image)


def test_two_samples_writing_one_output_leave_one_complete_file(plain, tmp_path):
    checkpoint = plain / "checkpoints" / "last.safetensors"
    references = tmp_path / "references"
    references.mkdir()
    counts = {"png": 64, "npz": 1000}
    shared = tmp_path / "shared"
    shared.mkdir()
    processes = {f"{fmt}_seed{seed}": start("sample", checkpoint, "--format", fmt, "-n", n, "--seed", seed,
                                            "-o", shared / f"out.{fmt}")
                 for fmt, n in counts.items() for seed in (1, 2)}
    # What each writer makes alone, drawn here while the four processes start.
    expected = {fmt: [reference(checkpoint, seed, fmt, references, n) for seed in (1, 2)] for fmt, n in counts.items()}
    outcomes = {}
    for label, process in processes.items():
        out, err = process.communicate(timeout=120)
        outcomes[label] = Outcome(label, process.returncode, out, err, 0)
    problems = []
    for label, outcome in outcomes.items():
        if outcome.code != 0:  # a clean refusal is as good as a write
            problems += refusal_problems(outcome, "out.")
    for fmt in counts:
        try:
            images = read_images(shared / f"out.{fmt}")
        except Exception as err:  # noqa: BLE001  (whatever a damaged file raises)
            problems.append(f"out.{fmt} is not readable: {type(err).__name__}: {err}")
            continue
        # The same images as one writer made alone (one unit of rounding apart, across thread counts).
        if not any(images.shape == one.shape and np.abs(images.astype(int) - one).max() <= 1 for one in expected[fmt]):
            problems.append(f"out.{fmt} is neither writer's complete output")
    left = sorted(path.name for path in shared.iterdir())
    if left != ["out.npz", "out.png"]:
        problems.append(f"left in the folder: {left}")
    assert not problems, "\n".join(problems)


def test_sigkill_while_writing_single_images_leaves_none_partial_and_the_next_run_tidies(plain, tmp_path):
    folder = tmp_path / "images"
    process = start("sample", plain / "checkpoints" / "last.safetensors", "-n", 20000, "--individual", folder)
    deadline = time.monotonic() + 120
    while len(list(folder.glob("*.png"))) < 200 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    written = sorted(folder.glob("*.png"))
    assert len(written) >= 200, "the images never started"
    for path in written:  # every image under its name is whole
        with Image.open(path) as image:
            image.load()
    leftovers = list(folder.glob(".*.tmp"))
    again = gancli("again", "sample", plain / "checkpoints" / "last.safetensors", "-n", 4, "--individual", folder)
    assert again.code == 0, again.err
    assert not list(folder.glob(".*.tmp")), leftovers

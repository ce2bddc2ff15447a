"""Folders of real image files made with Pillow, one with every defect a user's folder has, and
gancli run as a real process to judge what it says about them."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

MEMORY_LIMIT = 6 * 2**30  # bytes of address space per process: a claim in a file cannot exhaust the machine


def smooth_image(seed: int, size: tuple[int, int] = (32, 32)) -> Image.Image:
    """An RGB picture of soft colour blobs (a random 4x4 grid enlarged), unlike any other seed's."""
    grid = np.random.default_rng(seed).integers(0, 256, (4, 4, 3), dtype=np.uint8)
    return Image.fromarray(grid).resize(size, Image.Resampling.BICUBIC)


def class_folder(root: Path, classes: dict[str, int], size: tuple[int, int] = (32, 32), seed: int = 0) -> Path:
    """`root/<class>/<i>.png` for each class and count: a labelled folder."""
    for name, count in classes.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for index in range(count):
            smooth_image(seed, size).save(root / name / f"{index}.png")
            seed += 1
    return root


def defect_folder(root: Path) -> Path:
    """Two classes of good images beside one file of every kind of trouble, and a stray image at
    the top that takes the labels away."""
    class_folder(root, {"cats": 5, "dogs": 5})
    dogs = root / "dogs"
    smooth_image(100).convert("L").save(dogs / "gray.png")
    smooth_image(101).convert("RGBA").save(dogs / "alpha.png")
    smooth_image(102, (64, 40)).save(dogs / "wide.jpg", quality=92)
    smooth_image(103, (90, 30)).save(dogs / "wider.png")
    (dogs / "copy.png").write_bytes((root / "cats" / "0.png").read_bytes())                 # an exact duplicate
    smooth_image(1).resize((64, 64), Image.Resampling.BICUBIC).save(dogs / "bigger.jpg", quality=95)  # near one
    whole = (dogs / "gray.png").read_bytes()
    (dogs / "truncated.png").write_bytes(whole[:len(whole) // 2])
    (dogs / "empty.png").write_bytes(b"")
    (dogs / "notes.txt").write_text("not an image")
    Image.new("L", (20000, 16)).save(dogs / "very-wide.png")
    (dogs / "loop-a.png").symlink_to("loop-b.png")
    (dogs / "loop-b.png").symlink_to("loop-a.png")
    smooth_image(200).save(root / "stray.png")
    return root


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under `root`, with each file's content hash (links by their target)."""
    entries = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            entries[str(path.relative_to(root))] = f"-> {os.readlink(path)}"
        elif path.is_file():
            entries[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            entries[str(path.relative_to(root))] = "/"
    return entries


def gancli(*args, cwd: Path | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    """`python -m gancli ARGS` in its own process, under an address-space limit, on one thread."""
    env = {key: value for key, value in os.environ.items() if key != "GANCLI_DEBUG"}
    env["OMP_NUM_THREADS"] = "1"
    limits = f"ulimit -v {MEMORY_LIMIT // 1024} && exec \"$@\""
    return subprocess.run(["sh", "-c", limits, "sh", sys.executable, "-m", "gancli", *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)


def run_all(cases: dict[str, tuple], cwd: Path | None = None) -> dict[str, subprocess.CompletedProcess]:
    """label -> gancli arguments, three processes at a time (each spends most of its time importing torch)."""
    with ThreadPoolExecutor(3) as pool:
        futures = {label: pool.submit(gancli, *args, cwd=cwd) for label, args in cases.items()}
        return {label: future.result() for label, future in futures.items()}


def refusal_problem(label: str, result: subprocess.CompletedProcess, *named: str) -> str | None:
    """What is wrong with `result` as a refusal (one `Error:` line on stderr naming each of `named`), or None."""
    lines = result.stderr.strip().splitlines()
    if result.returncode == 0 or "Traceback" in result.stderr or len(lines) != 1 or not lines[0].startswith("Error:"):
        return f"{label}: exit {result.returncode}, stderr {result.stderr.strip()[-400:]!r}"
    missing = [text for text in named if text not in lines[0]]
    return f"{label}: {lines[0]!r} does not name {missing}" if missing else None

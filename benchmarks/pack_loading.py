"""How much faster a run's data loads from a pack than from a folder of the same images, and how
long `gancli datasets check` takes on a folder of that many small images.

    python benchmarks/pack_loading.py --images 73257 --workers 2

Writes a folder of `--images` 32x32 RGB PNG files in ten class subfolders to a temporary folder,
made from the 151 real SVHN images in ../shared/data (each shifted, flipped and its colour channels
reordered, so that no two files are alike; random pictures where that file is absent), then times
in this process, each step once:

1. check: `check_folder`, every file read and decoded in `--workers` processes;
2. folder, first start: `load_images("folder:DIR", image_size=32)`, which decodes every file
   (one process, as training does) and writes the folder's decode cache;
3. folder, cached start: the same again, read from that cache;
4. pack: `make_pack` of the folder at 32, crop, in `--workers` processes;
5. pack start: `load_images("DIR.safetensors")`, what `--data DIR.safetensors` loads;

and deletes the folder and the pack. The files are in the page cache for every step after the
first write; a cold disk adds its reading time to 2 and 5 alike (the pack is the smaller read).
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gancli.datasets.check import check_folder
from gancli.datasets.loading import load_images
from gancli.datasets.packing import make_pack
from gancli.errors import run_script

SVHN = Path(__file__).resolve().parents[2] / "shared" / "data" / "svhn" / "svhn_real_151.npz"


def write_folder(root: Path, count: int) -> str:
    """`count` distinct 32x32 RGB PNGs under `root/<digit>/`; says what they were made from."""
    if SVHN.is_file():
        real = np.load(SVHN)
        images, labels, source = real["images"], real["labels"], "the 151 real SVHN images"
    else:
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (151, 32, 32, 3), dtype=np.uint8)
        labels, source = rng.integers(0, 10, 151), "151 random pictures (../shared/data is absent)"
    variants = itertools.product(range(8), range(8), itertools.permutations(range(3)), (False, True))
    for digit in range(10):
        (root / str(digit)).mkdir(parents=True, exist_ok=True)
    index = 0
    for shift_y, shift_x, channels, flip in variants:
        for image, label in zip(images, labels):
            if index == count:
                return source
            picture = np.roll(image, (shift_y, shift_x), axis=(0, 1))[:, :, list(channels)]
            Image.fromarray(np.ascontiguousarray(picture[:, ::-1] if flip else picture)).save(
                root / str(int(label)) / f"{index:06d}.png")
            index += 1
    return source


def timed(what: str, call):
    started = time.perf_counter()
    result = call()
    seconds = time.perf_counter() - started
    print(f"| {what} | {seconds:.3f} s |", flush=True)
    return result, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=73_257, help="files in the folder (SVHN train has 73,257)")
    parser.add_argument("--workers", type=int, default=None, help="processes for check and pack; default: one per core")
    parser.add_argument("--keep", type=Path, default=None, help="write the folder here and keep it")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="gancli-pack-bench-"))
    folder, pack = base / "images", base / "images.safetensors"
    try:
        started = time.perf_counter()
        source = write_folder(folder, args.images)
        print(f"{args.images:,} PNG files 32x32 from {source} in {folder} "
              f"({time.perf_counter() - started:.0f} s to write); torch {torch.__version__}, "
              f"{torch.get_num_threads()} threads\n")
        print("| step | time |\n|---|---|")
        report, _ = timed(f"check ({args.images:,} files)", lambda: check_folder(folder, 32, args.workers))
        first, decoded = timed("folder, first start (decode, write the cache)",
                               lambda: load_images(f"folder:{folder}", image_size=32))
        cached, from_cache = timed("folder, cached start", lambda: load_images(f"folder:{folder}", image_size=32))
        timed("pack (once)", lambda: make_pack(str(folder), pack, 32, workers=args.workers))
        packed, from_pack = timed("pack start", lambda: load_images(str(pack)))
        assert torch.equal(packed.pixels, first.pixels) and torch.equal(packed.pixels, cached.pixels)
        print(f"\n{report.images:,} images, {len(report.skipped)} skipped; pack start is "
              f"{decoded / from_pack:,.0f}x faster than the folder's first start and "
              f"{from_cache / from_pack:,.1f}x than its cached start ({pack.stat().st_size / 2**20:,.0f} MiB)")
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    run_script(main)

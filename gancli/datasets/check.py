"""What a folder, a dataset or a pack holds, and what training would do with each image: skip it,
convert it, crop it, scale it; with its classes, sizes and modes, and exact and near duplicates.

    report = check_dataset("./photos")        # a folder, a dataset's name or a pack's file
    report.as_dict()["skipped"]               # [{"path": ..., "why": ...}, ...]

Nothing is written: a folder's files are read as the folder dataset reads them (`scan.py`), a
dataset's or a pack's decoded images are looked at in memory.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from gancli.datasets import datasets
from gancli.datasets.base import Images
from gancli.datasets.folder import DEFAULT_SIZE, candidate_files, describe_stray, visible_entries
from gancli.datasets.loading import folder_named, load_images, parse_data, resolve_split
from gancli.datasets.pack import is_pack_name, pixels_sha256, read_pack
from gancli.datasets.scan import GRAYSCALE_MODES, THUMB_SIDE, FileRecord, scan
from gancli.errors import GancliError

# Near duplicates: the same 8x8 average hash, and 16x16 grayscale thumbnails within this many
# levels (of 255) of each other on average. On real MNIST no two of the 10,000 test digits are
# this close, and a resized or JPEG-saved copy of a real SVHN image stays within 1.4.
NEAR_LEVELS = 1.5
WIDE_ASPECT = 2  # a centre crop keeps under half of a picture wider (or taller) than this
LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, as Pillow's convert("L")


@dataclass
class CheckReport:
    """What `check_dataset` found. Paths are relative to the folder; a dataset's images are #index."""

    source: str
    kind: str                                    # folder, dataset or pack
    image_size: int                              # the side training makes each image
    files: int                                   # files looked at (a folder), else images
    images: int                                  # images training uses
    classes: dict[str, int] | None = None        # images per class; None when unlabelled
    unlabelled: str | None = None                # why a folder with class subfolders has no labels
    sizes: dict[str, int] = field(default_factory=dict)      # "WxH" -> images, most common first
    modes: dict[str, int] = field(default_factory=dict)      # Pillow's modes (L, RGB, RGBA, P, ...)
    formats: dict[str, int] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"path", "why"}
    converted: dict[str, int] = field(default_factory=dict)  # "L to RGB" -> images
    cropped: int = 0                             # not square: the centre square is kept
    wide: list[str] = field(default_factory=list)            # over WIDE_ASPECT:1, so cropped to under half
    upscaled: int = 0                            # shorter side below image_size
    downscaled: int = 0                          # shorter side above image_size
    duplicates: list[list[str]] = field(default_factory=list)        # identical pixels
    near_duplicates: list[list[str]] = field(default_factory=list)   # see NEAR_LEVELS
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_dataset(source: str, split: str | None = None, data_root: Path | None = None,
                  image_size: int | None = None, workers: int | None = None,
                  progress: Callable[[int, int], None] | None = None) -> CheckReport:
    """Check `source`: a folder (`folder:PATH`, or a path that is no dataset's name), a pack
    (`NAME.safetensors`) or a dataset's name, whose files must be on disk already."""
    folder = folder_named(source)
    if folder is not None:
        return check_folder(folder, image_size, workers, progress)
    if is_pack_name(source):
        _, location = parse_data(source, str(data_root) if data_root else None)
        images, info = read_pack(location)
        if pixels_sha256(images.pixels) != info.pixels_sha256:
            raise GancliError(f"pack {location}: its pixels do not match the sha256 it records; it was altered "
                              f"or damaged: make it again with gancli datasets pack")
        report = check_images(images, str(location), "pack", image_size)
        report.notes.append(f"made by {info.made_by} on {info.created} from {describe_source(info.source)}; "
                            f"{info.method}; pixels match their recorded sha256")
        return report
    if source not in datasets.names() and ":" not in source:
        raise GancliError(f"no folder and no dataset named '{source}'; datasets: {', '.join(datasets.names())}")
    name, _ = parse_data(source, str(data_root) if data_root else None)
    split = resolve_split(datasets.get(name), name, split)
    images = load_images(source, split, data_root, download=False)
    return check_images(images, f"{source}/{split}", "dataset", image_size)


def describe_source(source: dict[str, Any]) -> str:
    if source.get("kind") == "folder":
        return f"{source.get('files')} files of folder {source.get('path')} ({source.get('skipped')} skipped)"
    return f"dataset {source.get('name')}, split {source.get('split')}"


def dead_links(root: Path) -> list[Path]:
    """Links under `root` (hidden ones aside) that loop or lead nowhere: training never sees them."""
    return sorted(Path(entry.path) for entry in visible_entries(root)
                  if entry.is_symlink() and not Path(entry.path).exists())


def check_folder(root: Path, image_size: int | None = None, workers: int | None = None,
                 progress: Callable[[int, int], None] | None = None) -> CheckReport:
    """Read every file under `root` as the folder dataset would, at `image_size` (default 64)."""
    if root.is_symlink() and not root.exists():
        raise GancliError(f"{root} is a link that loops or leads nowhere")
    if not root.is_dir():
        raise GancliError(f"{root} is not a folder")
    size = image_size or DEFAULT_SIZE
    files, links = candidate_files(root), dead_links(root)
    if not files and not links:
        raise GancliError(f"{root} holds no files (hidden ones aside): there is nothing to train on")
    records: list[FileRecord] = []
    for record in scan(root, files, workers=workers):
        records.append(record)
        if progress is not None and (len(records) % 1024 == 0 or len(records) == len(files)):
            progress(len(records), len(files))
    report = CheckReport(str(root), "folder", size, len(files) + len(links), 0)
    report.skipped = [{"path": r.path, "why": r.problem} for r in records if not r.used]
    report.skipped += [{"path": str(p.relative_to(root)), "why": "a link that loops or leads nowhere"} for p in links]
    used = [r for r in records if r.used]
    report.images = len(used)
    report.formats = most_common(r.format or "?" for r in used)
    report.modes = most_common(r.mode or "?" for r in used)
    report.sizes = most_common(f"{r.width}x{r.height}" for r in used)
    report.converted = most_common(f"{r.mode} to RGB" + (", transparency dropped" if r.transparent else "")
                                   for r in used if r.mode != "RGB" or r.transparent)
    note_geometry(report, [(r.path, r.width, r.height) for r in used])
    folders = [Path(r.path).parts[0] if len(Path(r.path).parts) > 1 else None for r in used]
    stray = [root / r.path for r, top in zip(used, folders) if top is None]
    if used and not stray:
        report.classes = dict(sorted(Counter(folders).items()))
    elif stray and len(stray) < len(used):
        report.unlabelled = describe_stray(root, stray)
    if used and {r.mode for r in used} <= GRAYSCALE_MODES:
        report.notes.append("every image is grayscale: training makes them RGB unless given --channels 1; "
                            "a pack keeps one channel")
    thumbnails = np.frombuffer(b"".join(r.thumbnail for r in used), dtype=np.uint8).reshape(-1, THUMB_SIDE ** 2)
    report.duplicates, report.near_duplicates = duplicate_groups([r.path for r in used],
                                                                 [r.pixel_digest for r in used], thumbnails)
    return report


def check_images(images: Images, source: str, kind: str, image_size: int | None = None) -> CheckReport:
    """Look at a dataset's (or a pack's) decoded images as training would take them."""
    count, depth, height, width = images.pixels.shape
    size = image_size or min(height, width)
    report = CheckReport(source, kind, size, count, count)
    report.sizes = {f"{width}x{height}": count}
    report.modes = {{1: "L", 3: "RGB"}.get(depth, f"{depth} channels"): count}
    shorter = min(height, width)
    report.cropped = count if height != width else 0
    report.upscaled = count if shorter < size else 0
    report.downscaled = count if shorter > size else 0
    if images.labels is not None and images.classes:
        tally = torch.bincount(images.labels.long(), minlength=len(images.classes)).tolist()
        report.classes = dict(zip(images.classes, tally))
    pixels = images.pixels.contiguous()
    digests = [hashlib.sha1(pixels[i].numpy().tobytes()).hexdigest() for i in range(count)]
    report.duplicates, report.near_duplicates = duplicate_groups([f"#{i}" for i in range(count)], digests,
                                                                 thumbnails_of(pixels))
    return report


def note_geometry(report: CheckReport, shapes: list[tuple[str, int, int]]) -> None:
    """Count the images training crops (not square) and scales up or down to `report.image_size`."""
    for name, width, height in shapes:
        if width != height:
            report.cropped += 1
            if max(width, height) > WIDE_ASPECT * min(width, height):
                report.wide.append(name)
        shorter = min(width, height)
        report.upscaled += shorter < report.image_size
        report.downscaled += shorter > report.image_size


def most_common(values) -> dict[str, int]:
    return dict(Counter(values).most_common())


def thumbnails_of(pixels: torch.Tensor, chunk: int = 8192) -> np.ndarray:
    """(N, 256) uint8 grayscale 16x16 thumbnails of uint8 (N, C, H, W) images, by area averaging."""
    out = []
    for part in pixels.split(chunk):
        gray = part.float()
        if gray.shape[1] == 3:
            gray = (gray * torch.tensor(LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True)
        small = F.adaptive_avg_pool2d(gray[:, :1], THUMB_SIDE).round().clamp(0, 255).to(torch.uint8)
        out.append(small.reshape(part.shape[0], -1).numpy())
    return np.concatenate(out) if out else np.zeros((0, THUMB_SIDE ** 2), dtype=np.uint8)


def duplicate_groups(names: list[str], digests: list[str],
                     thumbnails: np.ndarray) -> tuple[list[list[str]], list[list[str]]]:
    """(exact, near): groups of names whose pixels are identical, and groups of distinct images
    that are near duplicates (each named by its first copy)."""
    by_digest: dict[str, list[int]] = {}
    for index, digest in enumerate(digests):
        by_digest.setdefault(digest, []).append(index)
    exact = [[names[i] for i in group] for group in by_digest.values() if len(group) > 1]
    firsts = np.array([group[0] for group in by_digest.values()], dtype=np.int64)
    if len(firsts) < 2:
        return exact, []
    thumbs = thumbnails[firsts].astype(np.float32)
    blocks = thumbs.reshape(-1, THUMB_SIDE // 2, 2, THUMB_SIDE // 2, 2).mean(axis=(2, 4)).reshape(len(firsts), -1)
    keys = np.packbits(blocks > blocks.mean(axis=1, keepdims=True), axis=1)
    _, key_of = np.unique(keys, axis=0, return_inverse=True)
    parent = list(range(len(firsts)))

    def root_of(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    order = np.argsort(key_of.reshape(-1), kind="stable")
    bounds = np.flatnonzero(np.diff(key_of.reshape(-1)[order])) + 1
    for members in np.split(order, bounds):
        if len(members) < 2:
            continue
        means = thumbs[members].mean(axis=1)
        by_mean = members[np.argsort(means)]
        sorted_means = np.sort(means)
        for position, i in enumerate(by_mean):
            # Two thumbnails within NEAR_LEVELS on average have means within NEAR_LEVELS too.
            end = np.searchsorted(sorted_means, sorted_means[position] + NEAR_LEVELS, side="right")
            others = by_mean[position + 1:end]
            if len(others):
                close = np.abs(thumbs[others] - thumbs[i]).mean(axis=1) <= NEAR_LEVELS
                for j in others[close]:
                    parent[root_of(int(j))] = root_of(int(i))
    groups: dict[int, list[int]] = {}
    for i in range(len(firsts)):
        groups.setdefault(root_of(i), []).append(i)
    near = [[names[firsts[i]] for i in sorted(group)] for group in groups.values() if len(group) > 1]
    return exact, sorted(near, key=lambda group: group[0])

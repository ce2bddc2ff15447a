"""What a run folder says about its run for the report: how it ended, how long it trained, and on
what machine and precision, read from status.json, metrics.jsonl and the last checkpoint."""

from __future__ import annotations

import json
from typing import Any

from gancli.checkpoints.format import CheckpointInfo, read_info
from gancli.errors import CheckpointError, GancliError
from gancli.training.run.folder import RunFolder


def ending(run: RunFolder, records: list[dict[str, Any]]) -> str:
    try:
        status = json.loads(run.status_path.read_text(encoding="utf-8"))
        text = f"{status['state']} at step {status['step']} ({status['ended']})"
        return text + (f": {status['message']}" if status.get("message") else "")
    except (OSError, ValueError, KeyError, TypeError):
        last = records[-1]["step"] if records else 0
        return f"no ending recorded: still training, or stopped by a kill; last logged step {last}"


def last_info(run: RunFolder) -> CheckpointInfo | None:
    """What the run's newest checkpoint says about itself; None without a readable one."""
    try:
        return read_info(run.last_checkpoint) if run.last_checkpoint.exists() else None
    except CheckpointError:
        return None


def images_per_step(config: dict[str, Any]) -> int | None:
    """Images a step takes: the batch times the D updates (the architecture's when not set)."""
    batch, d_steps = config.get("batch_size"), config.get("d_steps")
    if d_steps is None:
        from gancli.architectures import architectures

        try:
            d_steps = architectures.get(str(config.get("arch"))).d_steps
        except GancliError:
            return None
    if not isinstance(batch, int) or not isinstance(d_steps, int):
        return None
    return batch * d_steps


def training_seconds(records: list[dict[str, Any]], config: dict[str, Any]) -> float | None:
    """The time the run spent in its training loop, its logged intervals added up: each reading
    says its images per second, and the steps since the one before say how many images. The
    grids, checkpoints and scores between readings are in it; setting up and the time between
    a stop and a resume are not."""
    per_step = images_per_step(config)
    if not per_step:
        return None
    seconds, previous = 0.0, 0
    for record in records:
        rate = record.get("images_per_s")
        if isinstance(rate, (int, float)) and rate > 0 and record["step"] > previous:
            seconds += (record["step"] - previous) * per_step / rate
            previous = record["step"]
    return seconds or None


def duration_text(seconds: float) -> str:
    """1 h 05 min, 5 min 45 s, 12 s."""
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def hardware_text(info: CheckpointInfo | None) -> str:
    """Where and how the newest checkpoint was trained: 'cuda NVIDIA H100 80GB HBM3, bf16'."""
    if info is None or not (info.kernels or info.precision):
        return ""
    parts = [info.kernels] if info.kernels else []
    if info.precision:
        parts.append(f"{info.precision}" + (" (precision: auto)" if info.config.get("precision") == "auto" else ""))
    return ", ".join(parts) + f"; gancli {info.gancli_version}"

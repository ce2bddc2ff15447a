"""The run folder: resolved config, metrics log, sample grids and checkpoints of one run.

    DIR/config.yaml                          the fully resolved config
    DIR/metrics.jsonl                        one JSON object per logging interval
    DIR/samples/step-0000500.png             grids from one fixed latent batch
    DIR/samples/timelapse.gif                those grids in step order, kept up to date
    DIR/status.json                          how the run last ended (absent while it trains)
    DIR/checkpoints/step-0001000.safetensors
    DIR/checkpoints/last.safetensors
    DIR/checkpoints/best.safetensors         the lowest FID so far, with --eval-every
    DIR/memorisation/best.png, best.json     gancli eval --metrics memorisation of a checkpoint here
    DIR/state/step-0001000.safetensors       training state for resuming, one per checkpoint
    DIR/state/last.safetensors
    DIR/replaced-20260101-120000/            an earlier run that --overwrite moved aside
    DIR/.gancli.lock                         held by the one process writing the folder

A folder is a run when its config.yaml is a gancli config. `create` refuses a folder that holds
anything else; over a run it needs `overwrite`, and then moves the old run's files aside before
writing anything, config.yaml first, so that after a kill at any moment the folder is either the
old run, the remains of one being replaced (which only another --overwrite accepts), or the new run.
"""

from __future__ import annotations

import contextlib
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Callable

import yaml
from torch import nn

from gancli.checkpoints.format import CheckpointInfo, read_info, save_checkpoint
from gancli.checkpoints.state import TrainingState, save_state
from gancli.core.files import fsync_dir, is_temporary, replace_with_copy, write_text_atomic
from gancli.errors import CheckpointError, GancliError
from gancli.training.run.lock import LOCK_NAME

REPLACED_PREFIX = "replaced-"


def default_run_dir(arch: str, data: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{arch}-{data.replace(':', '-').replace('/', '_')}-{stamp}"


class RunFolder:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.config_path = self.root / "config.yaml"
        self.metrics_path = self.root / "metrics.jsonl"
        self.samples = self.root / "samples"
        self.checkpoints = self.root / "checkpoints"
        self.state = self.root / "state"
        self.memorisation = self.root / "memorisation"  # written by `gancli eval`, read by `gancli report`

    def holds_run(self) -> bool:
        """Whether the folder holds a gancli run: a config.yaml that is a gancli config."""
        try:
            config = yaml.safe_load(self.config_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            return False
        return isinstance(config, dict) and {"arch", "data"} <= set(config)

    def entries(self) -> list[Path]:
        """What the folder holds, less its lock, the runs moved aside into it and the temporary
        files of writes a kill cut short."""
        try:
            return sorted(p for p in self.root.iterdir() if p.name != LOCK_NAME
                          and not p.name.startswith(REPLACED_PREFIX) and not is_temporary(p.name))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def replacing(self) -> bool:
        """Whether an --overwrite stopped while moving the old run aside: no config, a moved-aside
        run, and some of the old run's files still here."""
        return not self.holds_run() and bool(self.entries()) and any(self.root.glob(REPLACED_PREFIX + "*"))

    @classmethod
    def create(cls, root: Path, config_yaml: str, overwrite: bool = False,
               notify: Callable[[str], None] | None = None) -> "RunFolder":
        """Lay out a new run in `root`. A folder holding anything but a gancli run is refused; one
        holding a run is refused unless `overwrite`, which moves the old run aside first (and
        says where through `notify`)."""
        run = cls(root)
        if run.holds_run() or run.replacing():
            if not overwrite:
                what = "already holds a run" if run.holds_run() else \
                    "holds the remains of a run that --overwrite was replacing when it stopped"
                raise GancliError(f"{run.root} {what}; choose another --out, pass --resume {run.root} to "
                                  f"continue it, or --overwrite to move it aside into {run.root}/{REPLACED_PREFIX}TIME/")
            with run._writing():
                aside = run.move_aside()
            if notify is not None:
                notify(f"Moved the earlier run in {run.root} aside into {aside}")
        run.refuse_foreign()
        with run._writing():
            run.remove_temporaries()  # what a kill left while an earlier start wrote config.yaml
        # config.yaml first: until it is whole the folder holds nothing a later start refuses.
        with run._writing(run.config_path):
            write_text_atomic(run.config_path, config_yaml)
        with run._writing():
            run._make_folders()
        with run._writing(run.metrics_path):
            write_text_atomic(run.metrics_path, "")
        return run

    def refuse_foreign(self) -> None:
        """Refuse a folder that holds files but no gancli run: they are someone else's."""
        entries = self.entries()
        if entries and not self.holds_run() and not self.replacing():
            names = ", ".join(p.name for p in entries[:3]) + (", ..." if len(entries) > 3 else "")
            raise GancliError(f"{self.root} is not empty and holds no gancli run ({names}); "
                              f"choose a new or empty folder for --out")

    def move_aside(self) -> Path:
        """Move every file of the run here into a `replaced-TIME/` folder, config.yaml first;
        temporary files of killed writes are deleted, not kept. An --overwrite that a kill stopped
        half-way is finished into the folder it was filling, so the old run ends up whole in one."""
        self.remove_temporaries()
        entries = sorted(self.entries(), key=lambda p: p != self.config_path)  # the run is gone at once
        aside = self._unfinished_aside({entry.name for entry in entries})
        if aside is None:
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            aside = self.root / f"{REPLACED_PREFIX}{stamp}"
            suffix = 1
            while aside.exists():
                suffix += 1
                aside = self.root / f"{REPLACED_PREFIX}{stamp}-{suffix}"
            aside.mkdir()
        for entry in entries:
            os.replace(entry, aside / entry.name)
            fsync_dir(self.root)
        return aside

    def _unfinished_aside(self, names: set[str]) -> Path | None:
        """The `replaced-*` folder a stopped move was filling: the newest that holds none of `names`
        (the entries still here), as an empty one (a kill before the first move) or the part-moved
        run's does; one a finished move filled holds what a run holds, and clashes."""
        candidates = [folder for folder in self.root.glob(REPLACED_PREFIX + "*")
                      if folder.is_dir() and not folder.is_symlink()
                      and not names & {child.name for child in folder.iterdir()}]
        return max(candidates, key=lambda folder: folder.stat().st_mtime_ns, default=None)

    @classmethod
    def reopen(cls, root: Path, config_yaml: str, step: int) -> "RunFolder":
        """Continue the run in `root` from `step`: the config is rewritten, metrics logged after
        `step` (they will be logged again) and a line torn by a crash are dropped, and temporary
        files of writes a kill cut short are removed."""
        run = cls(root)
        with run._writing():
            run.remove_temporaries()
            run.status_path.unlink(missing_ok=True)  # training again
            run._make_folders()
        with run._writing(run.config_path):
            write_text_atomic(run.config_path, config_yaml)
        run.truncate_metrics(step)
        return run

    def remove_temporaries(self) -> None:
        """Delete what atomic writes leave behind when killed (`core.files.is_temporary`) in any
        folder gancli writes."""
        for folder in (self.root, self.checkpoints, self.state, self.samples):
            for leftover in folder.glob(".*"):
                if is_temporary(leftover.name):
                    leftover.unlink(missing_ok=True)

    def truncate_metrics(self, step: int) -> None:
        """Keep the complete metrics records up to `step`, in one atomic rewrite."""
        with self._writing(self.metrics_path):
            write_text_atomic(self.metrics_path, "".join(self._metrics_up_to(step)))

    def _metrics_up_to(self, step: int) -> list[str]:
        try:
            lines = self.metrics_path.read_text(encoding="utf-8").splitlines(keepends=True)
        except FileNotFoundError:
            return []
        kept = []
        for line in lines:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if line.endswith("\n") and isinstance(record, dict) and isinstance(record.get("step"), int) \
                    and record["step"] <= step:
                kept.append(line)
        return kept

    def _make_folders(self) -> None:
        for folder in (self.samples, self.checkpoints, self.state):
            folder.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def _writing(self, path: Path | None = None):
        """A failed write as one line naming `path`, or the run folder when it is not one file."""
        try:
            yield
        except OSError as err:
            what = path if path is not None else f"the run folder {self.root}"
            raise GancliError(f"cannot write {what}: {err.strerror or err}") from None

    def sample_path(self, step: int) -> Path:
        return self.samples / f"step-{step:07d}.png"

    def checkpoint_path(self, step: int) -> Path:
        return self.checkpoints / f"step-{step:07d}.safetensors"

    def state_path(self, step: int) -> Path:
        return self.state / f"step-{step:07d}.safetensors"

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / "last.safetensors"

    @property
    def best_checkpoint(self) -> Path:
        """The checkpoint with the lowest FID so far, in runs that evaluate while training."""
        return self.checkpoints / "best.safetensors"

    @property
    def last_state(self) -> Path:
        return self.state / "last.safetensors"

    def write_checkpoint(self, step: int, networks: dict[str, nn.Module], info: CheckpointInfo,
                         state: TrainingState) -> None:
        """Write the step's checkpoint and its training state, then make them `last`; a failure
        is one line naming the file, and leaves the previous checkpoint as it was."""
        weights, state_path = self.checkpoint_path(step), self.state_path(step)
        kept = "the previous checkpoint is intact" if self.last_checkpoint.exists() else \
            "no checkpoint had been written yet"
        # State first, weights second: weights whose state is missing are passed over on resume.
        writes = ((state_path, lambda: save_state(state_path, state)),
                  (weights, lambda: save_checkpoint(weights, networks, info)),
                  (self.last_state, lambda: replace_with_copy(state_path, self.last_state)),
                  (self.last_checkpoint, lambda: replace_with_copy(weights, self.last_checkpoint)))
        for path, write in writes:
            try:
                write()
            except OSError as err:
                if path in (self.last_state, self.last_checkpoint):  # the step's own pair is whole
                    kept = f"this step's checkpoint is complete in {weights}"
                raise GancliError(f"cannot write a checkpoint in {self.checkpoints}: {path}: "
                                  f"{err.strerror or err}; {kept}") from None

    @property
    def timelapse(self) -> Path:
        return self.samples / "timelapse.gif"

    @property
    def status_path(self) -> Path:
        return self.root / "status.json"

    def sample_grids(self) -> list[Path]:
        """The fixed-latent grids written so far, in step order."""
        return sorted(p for p in self.samples.glob("step-*.png") if p.stem[len("step-"):].isdigit())

    def write_status(self, state: str, step: int, message: str = "") -> None:
        """Record how the run ended (finished, interrupted, diverged or failed) for `gancli report`."""
        record = {"state": state, "step": step, "message": message,
                  "ended": datetime.now().astimezone().isoformat(timespec="seconds")}
        with self._writing(self.status_path):
            write_text_atomic(self.status_path, json.dumps(record) + "\n")

    def numbered_steps(self) -> list[int]:
        """Steps of the step-numbered checkpoints, oldest first."""
        steps = []
        for path in self.checkpoints.glob("step-*.safetensors"):
            digits = path.stem[len("step-"):]
            if digits.isdigit():
                steps.append(int(digits))
        return sorted(steps)

    def prune(self, keep: int, run_id: str) -> None:
        """Delete all but the newest `keep` step-numbered checkpoints that run `run_id` wrote, and
        their states; a checkpoint that does not say it is the run's own is never deleted."""
        if not keep:
            return
        own = []
        for step in self.numbered_steps():
            try:
                if read_info(self.checkpoint_path(step)).run_id == run_id:
                    own.append(step)
            except CheckpointError:
                continue
        for step in own[:-keep]:
            self.checkpoint_path(step).unlink(missing_ok=True)
            self.state_path(step).unlink(missing_ok=True)

"""Training progress for people: Rich progress bars on a terminal, plain log lines elsewhere (CI, pipes)."""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from gancli.training.reporting import Reporter


def describe(metrics: dict[str, Any]) -> str:
    return (f"loss_d {metrics['loss_d']:.3f}  loss_g {metrics['loss_g']:.3f}  "
            f"D(x) {metrics['d_real']:.2f}  D(G(z)) {metrics['d_fake']:.2f}  "
            f"{metrics['images_per_s']:,.0f} img/s")


class PlainReporter(Reporter):
    """One line per logging interval, for logs that are read later."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout

    def start(self, total_steps, steps_per_epoch, first_step=0):
        self.total = total_steps
        self.started = time.perf_counter()
        self.first_step = first_step

    def metrics(self, metrics):
        done = metrics["step"] - self.first_step
        elapsed = time.perf_counter() - self.started
        eta = elapsed / max(done, 1) * (self.total - metrics["step"])
        self.notify(f"step {metrics['step']}/{self.total}  epoch {metrics['epoch']}  "
                    f"{describe(metrics)}  eta {eta:.0f}s")

    def notify(self, text):
        print(text, file=self.stream, flush=True)


class RichReporter(Reporter):
    """An epoch bar and a step bar with images/s, ETA and the latest losses."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console()
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeRemainingColumn(), TextColumn("{task.fields[status]}"),
            console=self.console, transient=False,
        )

    def start(self, total_steps, steps_per_epoch, first_step=0):
        self.steps_per_epoch = steps_per_epoch
        epochs = -(-total_steps // steps_per_epoch)
        self.epoch_task = self.progress.add_task("epochs", total=epochs, completed=first_step // steps_per_epoch, status="")
        self.step_task = self.progress.add_task("steps", total=total_steps, completed=first_step, status="")
        self.progress.start()

    def advance(self, step, epoch):
        self.progress.update(self.step_task, completed=step)
        self.progress.update(self.epoch_task, completed=step // self.steps_per_epoch)

    def metrics(self, metrics):
        self.progress.update(self.step_task, status=describe(metrics))

    def notify(self, text):
        self.progress.console.print(text)

    def stop(self):
        self.progress.stop()


def terminal_reporter() -> Reporter:
    console = Console()
    return RichReporter(console) if console.is_terminal else PlainReporter()


class StageBars:
    """One Rich bar per stage of a long job (`gancli eval`), made as each stage starts; on a
    terminal only, so logs and pipes get the result alone."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeRemainingColumn(), console=self.console, disable=not self.console.is_terminal)
        self.tasks: dict[str, Any] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(stage, total=total)
        self.progress.update(self.tasks[stage], completed=done, total=total)

    def notify(self, text: str) -> None:
        """A line for the person waiting (on stderr, above the bars), e.g. what a stage is doing."""
        self.console.print(text, markup=False, highlight=False)

    def __enter__(self) -> "StageBars":
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

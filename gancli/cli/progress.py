"""Training progress for people: a live display on a terminal, plain log lines elsewhere (CI, pipes).

What a command says goes to stdout, and errors alone to stderr (as one line, from `app.py`); a
command whose stdout is JSON (`--json`) says its notes on stderr instead.

On a terminal, the first line says where the run is and never loses it to the readings: the
step bar, step/total, time left, images per second and the epoch, each measured from the steps
as they pass; below it the latest losses and, in a run that evaluates, the latest scores, each
with the step it was read at, cut at the terminal's edge. It is redrawn about once a second and
reads nothing the trainer has not already read.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Iterable

from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Column
from rich.text import Text

from gancli.training.reporting import Reporter

REFRESHES_PER_SECOND = 1  # about once a second: a rate that moves no faster than people read it
RATE_WINDOW_S = 30.0      # images/s and the time left average this much of the recent past: steady, yet current


def describe(metrics: dict[str, Any]) -> str:
    return (f"loss_d {metrics['loss_d']:.3f}  loss_g {metrics['loss_g']:.3f}  "
            f"D(x) {metrics['d_real']:.2f}  D(G(z)) {metrics['d_fake']:.2f}")


def describe_scores(scores: dict[str, float]) -> str:
    """An evaluation's scores in a few words, the most telling first."""
    parts = []
    if "fid" in scores:
        parts.append(f"FID {scores['fid']:.2f}")
    if "recognisable" in scores:
        parts.append(f"recognisable {scores['recognisable']:.1%}")
    if "conditional_accuracy" in scores:
        parts.append(f"conditional accuracy {scores['conditional_accuracy']:.1%}")
    if "classes_covered" in scores and "classes" in scores:
        parts.append(f"classes {scores['classes_covered']:.0f}/{scores['classes']:.0f}")
    return "  ".join(parts)


def images_per_s(rate: float) -> str:
    return f"{rate:,.0f} img/s" if rate >= 10 else f"{rate:.2g} img/s"


class PlainReporter(Reporter):
    """One line per logging interval, for logs that are read later, with the notes between them."""

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
        print(f"step {metrics['step']}/{self.total}  epoch {metrics['epoch']}  {describe(metrics)}  "
              f"{images_per_s(metrics['images_per_s'])}  eta {eta:.0f}s", file=self.stream, flush=True)

    def notify(self, text):
        print(text, file=self.stream, flush=True)


class RateColumn(ProgressColumn):
    """Images per second, from the steps that passed in the last few seconds."""

    def __init__(self, images_per_step: int):
        self.images_per_step = images_per_step
        super().__init__(table_column=Column(no_wrap=True))

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        if not self.images_per_step or not speed:
            return Text("")
        return Text(images_per_s(speed * self.images_per_step), style="progress.data.speed")


class EpochColumn(ProgressColumn):
    """The epoch the run is in, of all it trains."""

    def __init__(self, steps_per_epoch: int, epochs: int):
        self.steps_per_epoch, self.epochs = steps_per_epoch, epochs
        super().__init__(table_column=Column(no_wrap=True))

    def render(self, task) -> Text:
        return Text(f"epoch {min(int(task.completed) // self.steps_per_epoch + 1, self.epochs)}/{self.epochs}")


class RunProgress(Progress):
    """The step bar's line, then a line each for the latest readings, cut at the terminal's edge."""

    def __init__(self, *columns, **options):
        self.readings: dict[str, str] = {}  # what -> its line, in the order first given
        super().__init__(*columns, **options)

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        for line in self.readings.values():
            yield Text(line, no_wrap=True, overflow="ellipsis")


class RichReporter(Reporter):
    """A live display: the step bar with the numbers that say where the run is, then the latest
    losses and scores."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console()
        self.progress: RunProgress | None = None
        self.images_per_step = 0

    def step_size(self, images_per_step):
        self.images_per_step = images_per_step

    def start(self, total_steps, steps_per_epoch, first_step=0):
        fixed = {"table_column": Column(no_wrap=True)}
        self.progress = RunProgress(
            TextColumn("[bold]steps", **fixed),
            BarColumn(bar_width=None, table_column=Column(ratio=1, min_width=4)),
            MofNCompleteColumn(**fixed), TimeRemainingColumn(**fixed), RateColumn(self.images_per_step),
            EpochColumn(steps_per_epoch, -(-total_steps // steps_per_epoch)),
            console=self.console, expand=True, refresh_per_second=REFRESHES_PER_SECOND,
            speed_estimate_period=RATE_WINDOW_S,
        )
        self.step_task = self.progress.add_task("steps", total=total_steps, completed=first_step)
        self.progress.start()

    def advance(self, step, epoch):
        self.progress.update(self.step_task, completed=step)

    def metrics(self, metrics):
        self.progress.readings["losses"] = f"step {metrics['step']}: {describe(metrics)}"

    def scores(self, step, scores):
        described = describe_scores(scores)
        if described:
            self.progress.readings["scores"] = f"step {step}: {described}"

    def notify(self, text):
        # soft_wrap: the terminal wraps a long note, so a path in it stays one word when copied
        (self.progress.console if self.progress else self.console).print(text, markup=False, highlight=False,
                                                                          soft_wrap=True)

    def stop(self):
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def terminal_reporter() -> Reporter:
    console = Console()
    return RichReporter(console) if console.is_terminal else PlainReporter()


class StageBars:
    """One Rich bar per stage of a long job (`gancli eval`), made as each stage starts; on a
    terminal only, so logs and pipes get the notes and the result alone."""

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
        """A line for the person waiting (above the bars), e.g. what a stage is doing."""
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def __enter__(self) -> "StageBars":
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

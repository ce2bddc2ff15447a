"""Training a GAN from a `TrainConfig`: the loop over steps, and what it reads and writes on the way.

    from gancli.config import TrainConfig
    from gancli.training import train
    result = train(TrainConfig(arch="dcgan", data="synthetic", steps=200, device="cpu"))

`setup.set_up_run` builds the run; the `Trainer` runs it. A run checkpoints every
`checkpoint_every` steps, on SIGINT/SIGTERM and at the end; each checkpoint has its training
state beside it, so `train(config, resume=...)` continues exactly. The trainer reports through
the `Reporter` it is given, and says nothing without one.
"""

from __future__ import annotations

import gc
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gancli.config import TrainConfig
from gancli.core.device import resolve_device, use_device
from gancli.errors import GancliError, TrainingInterrupted
from gancli.training.reporting import Reporter
from gancli.training.run.health import (COLLAPSED, REMEDIES, Finding, HealthWatch, recorded_scores, saturation_bounds,
                                        unwatched)
from gancli.training.run.resume import ResumePoint, find_resume_point
from gancli.training.run.rollback import RollbackPolicy
from gancli.training.run.setup import set_up_run
from gancli.training.run.stopping import (EXIT_CODES, StopSignals, divergence_message, ending_state,
                                          signal_check_due, stopped_twice, unhealthy)
from gancli.training.step.distributed import ParameterDigests, World, join
from gancli.training.step.gan_step import STAT_NAMES


@dataclass
class RunResult:
    out: Path
    last_checkpoint: Path
    steps: int          # the run's step count at the end
    metrics: dict[str, Any]
    trained: int = 0    # steps taken by this call (fewer than `steps` after a resume)


class Trainer:
    """Runs one run, built from its config by `set_up_run`: `run_loop()` trains it."""

    def __init__(self, config: TrainConfig, reporter: Reporter | None = None, overwrite: bool = False,
                 resume: ResumePoint | Path | None = None, feature_extractor=None, world: World | None = None):
        self.run = set_up_run(config, reporter, overwrite, resume, feature_extractor, world)
        self.rollback = RollbackPolicy(self.run.config)
        self.health = HealthWatch(saturation_bounds(self.run.step.model.loss))
        self.health_rollback = RollbackPolicy(self.run.config, enabled=self.run.config.on_collapse == "rollback")
        self.digests = ParameterDigests(self.run.world)
        self.metrics: dict[str, Any] = {}
        self.start_interval()
        self.restart_health()

    def close(self) -> None:
        self.run.close()

    def run_loop(self) -> RunResult:
        run, config = self.run, self.run.config
        self.start_interval()
        run.reporter.step_size(config.batch_size * run.step.model.d_steps)
        run.reporter.start(run.total_steps, run.steps_per_epoch, run.progress.step)
        run.reporter.notify(f"step: {run.step.device_step.effective_execution.describe()}")
        blind = unwatched(self.health.saturation, run.step.model.loss_name, bool(config.eval_every))
        if blind and config.on_collapse != "warn":
            run.reporter.notify(f"on_collapse {config.on_collapse}: {blind}")
        signals = StopSignals()
        first_step = run.progress.step + 1
        try:
            with signals:
                while run.progress.step < run.total_steps:
                    self.train_step()
                    step = run.progress.step
                    last = step == run.total_steps
                    if step == first_step and step % config.log_every and not last:
                        self.show_first_reading()
                    stop = self.agreed_signal(signals) if signal_check_due(
                        step, last, config.log_every, run.world.distributed) else None
                    if (step % config.log_every == 0 or last) and self.log_interval_or_roll_back():
                        continue
                    if config.sample_every and (step % config.sample_every == 0 or last):
                        run.world.on_main(run.write_samples)
                    evaluation_due = config.eval_every and (step % config.eval_every == 0 or last)
                    if evaluation_due and self.evaluate_and_watch():
                        continue
                    checkpoint_due = config.checkpoint_every and step % config.checkpoint_every == 0
                    if (checkpoint_due or last or stop) and self.checkpoint_or_roll_back():
                        continue
                    if stop and not last:
                        raise TrainingInterrupted(
                            f"stopped by {stop.name} at step {step}; checkpoint: {run.folder.last_checkpoint}; "
                            f"continue with: gancli train --resume {run.folder.root}", exit_code=EXIT_CODES.get(stop, 1))
        except KeyboardInterrupt:
            if signals.received is None:
                raise
            self.record_ending(self.interrupted_twice(signals.received))
        except GancliError as err:
            self.record_ending(err)
        finally:
            run.reporter.stop()
            run.timelapse.close()
        self.record_ending(None)
        return RunResult(run.folder.root, run.folder.last_checkpoint, run.progress.step, self.metrics,
                         run.progress.step - first_step + 1)

    def train_step(self) -> None:
        run = self.run
        run.step.device_step()  # the batches, both updates, the totals, the guard and the EMA: on the device
        run.progress.step += 1
        self.interval_steps += 1
        run.reporter.advance(run.progress.step, run.epoch)
        self.digests.record(run.progress.step, run.step.parameters())

    # -- readings, every log_every steps --------------------------------------------------

    def start_interval(self) -> None:
        self.run.step.device_step.reset_totals()
        self.interval_steps, self.interval_start = 0, time.perf_counter()

    def interval_readings(self, means: list[float]) -> dict[str, Any]:
        elapsed = time.perf_counter() - self.interval_start
        images = self.interval_steps * self.run.config.batch_size * self.run.step.model.d_steps
        return {"step": self.run.progress.step, "epoch": self.run.epoch, **dict(zip(STAT_NAMES, means)),
                "images_per_s": images / elapsed}

    def log_interval_or_roll_back(self) -> bool:
        """Log the interval's mean statistics; True when instead the run diverged and rolled back."""
        run = self.run
        totals = run.world.all_reduce_(run.step.device_step.totals) / run.world.size
        *means, bad_step, finite = torch.cat([totals / self.interval_steps, self.probe()]).tolist()  # one sync
        rolled_back = self.diverged(bad_step, finite)
        if not rolled_back:
            self.metrics = self.interval_readings(means)
            if run.world.is_main:
                run.loggers.scalars(run.progress.step, {k: v for k, v in self.metrics.items() if k != "step"})
            run.reporter.metrics(self.metrics)
            rolled_back = self.act_on_health(self.health.interval(
                run.progress.step, self.interval_steps, self.metrics["d_real"], self.metrics["d_fake"]))
        self.start_interval()
        return rolled_back

    def show_first_reading(self) -> None:
        """Show the first step's losses at once rather than after `log_every` steps: one host
        read, for the person watching; nothing is logged."""
        self.run.reporter.metrics(self.interval_readings(
            (self.run.step.device_step.totals / self.interval_steps).tolist()))

    # -- divergence, checkpoints and scores ------------------------------------------------

    def probe(self) -> torch.Tensor:
        """The divergence guard's probe, agreed by all ranks: the latest bad step any rank saw,
        and finite only where every rank's weights are."""
        run = self.run
        probe = run.step.guard.probe(run.step.parameters())
        if run.world.distributed:
            flip = torch.tensor([1.0, -1.0], device=run.device)  # the max of -finite is -(its min)
            probe = run.world.all_reduce_(probe * flip, op=torch.distributed.ReduceOp.MAX) * flip
        return probe

    def diverged(self, bad_step: float, finite: float) -> bool:
        """False when nothing went non-finite; else the rollback policy rolls the run back (True)
        or stops it."""
        if bad_step < 0 and finite:
            return False
        self.rollback.respond(self.run, divergence_message(int(bad_step), self.run.progress.step))
        self.start_interval()
        self.restart_health()
        return True

    def checkpoint_or_roll_back(self) -> bool:
        """Checkpoint the run; True, writing nothing, when its weights diverged and it rolled back."""
        if self.diverged(*self.probe().tolist()):
            return True
        self.run.world.on_main(self.run.write_checkpoint)
        return False

    def evaluate(self) -> dict[str, float]:
        """Score the generator, log the scores, and keep the checkpoint when FID is the best so far."""
        from gancli.training.run.best import describe_scores

        run = self.run
        evaluation = run.scorer.score(run.sampled_generator, run.step.model.sample_latent, run.device)
        if evaluation.improved:
            run.write_best(evaluation.scores, evaluation.protocol)
        run.loggers.scalars(run.progress.step, {"epoch": run.epoch, **evaluation.scores,
                                                "protocol": evaluation.protocol})
        run.reporter.scores(run.progress.step, evaluation.scores)
        run.reporter.notify(f"step {run.progress.step}  {describe_scores(evaluation.scores)}"
                            + ("  (best so far)" if evaluation.improved else ""))
        return evaluation.scores

    # -- health: a saturated discriminator, a collapsed generator -------------------------

    def evaluate_and_watch(self) -> bool:
        """Evaluate (rank 0, which holds the scorer) and act on a collapse the scores show; True
        when the run rolled back."""
        findings = self.health.evaluation(self.run.progress.step, self.evaluate()) if self.run.scorer else []
        return self.act_on_health(findings, seen_by_all=False)

    def act_on_health(self, findings: list[Finding], seen_by_all: bool = True) -> bool:
        """Say what the health watch found (a line and a metrics.jsonl record each) and, for
        trouble, warn, stop or roll back as `on_collapse` says; True when the run rolled back.
        Findings from rank 0's evaluation alone are agreed, so every rank acts alike."""
        run, choice, policy = self.run, self.run.config.on_collapse, self.health_rollback
        for finding in findings:
            run.reporter.notify(finding.line)
        trouble = next((finding for finding in findings if finding.trouble), None)
        acting = trouble is not None and choice != "warn"
        if choice != "warn" and not seen_by_all and run.world.distributed:
            (acting,) = run.world.agree_max([int(acting)])
        if not acting:
            self.log_health(findings, "warned")
            return False
        problem = trouble.problem if trouble else "rank 0's evaluation found the generator collapsed"
        if policy.can_roll_back(run):
            policy.roll_back(run, problem)
            self.start_interval()
            self.restart_health()
            self.log_health(findings, f"rolled back to step {run.progress.step} "
                                      f"(rollback {run.progress.rollbacks} of {policy.most})")
            return True
        if self.checkpoint_or_roll_back():  # as on SIGTERM, unless the weights went non-finite meanwhile
            return True
        self.log_health(findings, "stopped")
        why = "" if choice == "stop" else "no checkpoint to roll back to" if run.progress.rollbacks < policy.most \
            else f"no rollback left: {run.progress.rollbacks} of {policy.most} made"
        raise unhealthy(trouble.message if trouble else problem, trouble.remedy if trouble else REMEDIES[COLLAPSED],
                        run.folder.root, run.folder.last_checkpoint, why)

    def log_health(self, findings: list[Finding], action: str) -> None:
        """A record in metrics.jsonl per finding, at the step the run now stands at (rank 0);
        `action` says what the run did about trouble."""
        if self.run.world.is_main:
            for finding in findings:
                self.run.loggers.scalars(self.run.progress.step, finding.record(action if finding.trouble else ""))

    def restart_health(self) -> None:
        """Watch afresh from where the run stands, remembering the evaluations it kept (rank 0
        holds them): on starting, and after a rollback."""
        step = self.run.progress.step
        kept = recorded_scores(self.run.folder.metrics_path) if self.run.world.is_main else []
        self.health.restart([record for record in kept if isinstance(record.get("step"), int)
                             and record["step"] <= step])

    # -- how the run ends ------------------------------------------------------------------

    def agreed_signal(self, signals: StopSignals) -> signal.Signals | None:
        """The signal any rank received, so all stop after the same step."""
        received = signals.received.value if signals.received else 0
        if self.run.world.distributed:
            (received,) = self.run.world.agree_max([received])
        return signal.Signals(received) if received else None

    def record_ending(self, err: GancliError | None) -> None:
        """Write how the run ended to status.json (rank 0), then raise `err` if there is one."""
        run = self.run
        if run.world.is_main:
            try:
                run.folder.write_status(ending_state(err), run.progress.step, str(err) if err else "")
            except GancliError:
                if err is None:
                    raise  # a finished run whose status.json cannot be written says so
                # else a full disk must not hide the error being reported
        if err is not None:
            raise err from None

    def interrupted_twice(self, first: signal.Signals) -> TrainingInterrupted:
        """What a second signal, which stops at once, leaves behind: the newest complete checkpoint."""
        root = self.run.folder.root
        try:
            point = find_resume_point(root)
            kept = f"the newest complete checkpoint is {point.checkpoint} (step {point.state.step}); " \
                   f"continue with: gancli train --resume {root}"
        except GancliError:
            kept = "no complete checkpoint was written"
        return stopped_twice(first, self.run.progress.step, kept)


def train(config: TrainConfig, reporter: Reporter | None = None, overwrite: bool = False,
          resume: ResumePoint | Path | None = None, feature_extractor=None) -> RunResult:
    """Train as `config` says and return where the run went; `resume` continues a run folder
    (or a `ResumePoint` found in one) exactly where its newest checkpoint left it;
    `feature_extractor` replaces the FID network of `eval_every` (a small stand-in, or another)."""
    device = resolve_device(config.device)
    use_device(device)
    world = join(device, config.sync_bn)
    try:
        trainer = Trainer(config, reporter, overwrite=overwrite,
                          resume=resume, feature_extractor=feature_extractor, world=world)
        try:
            return trainer.run_loop()
        finally:
            trainer.close()
            trainer.run.drop_networks()
    finally:
        gc.collect()  # whatever the networks left in reference cycles, while the process group exists
        world.close()

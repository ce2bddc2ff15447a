"""What a run does when its losses or weights become NaN or infinite, or, with `on_collapse:
rollback`, when its discriminator saturates or its generator collapses (`health.py`).

With `on_nan: stop` (the default) it stops, saying how to resume from the last good checkpoint
with a lower learning rate. With `on_nan: rollback` it goes back to the newest complete
checkpoint, multiplies both learning rates by `rollback_lr_factor` and trains on, at most
`max_rollbacks` times, and only when a checkpoint exists; then it stops as with `stop`. Rollbacks
for NaN and for health draw on the same `max_rollbacks`: they are one run's count, kept in its
checkpoints.
"""

from __future__ import annotations

from gancli.config import TrainConfig
from gancli.training.run.parts import Run
from gancli.training.run.resume import can_resume, find_resume_point
from gancli.training.run.stopping import diverged


class RollbackPolicy:
    def __init__(self, config: TrainConfig, enabled: bool | None = None):
        """Rolls back when `enabled`; by default when `on_nan` says so."""
        self.enabled = config.on_nan == "rollback" if enabled is None else enabled
        self.lr_factor = config.rollback_lr_factor
        self.most = config.max_rollbacks

    def respond(self, run: Run, problem: str) -> None:
        """Roll `run` back to its newest complete checkpoint, or raise `TrainingDiverged`."""
        root = run.folder.root
        if not self.can_roll_back(run):
            raise diverged(problem, root, run.folder.last_checkpoint if can_resume(root) else None, self.enabled)
        self.roll_back(run, problem)

    def can_roll_back(self, run: Run) -> bool:
        """Enabled, with rollbacks left and a complete checkpoint to go back to."""
        return self.enabled and run.progress.rollbacks < self.most and can_resume(run.folder.root)

    def roll_back(self, run: Run, problem: str) -> None:
        """Put `run` back at its newest complete checkpoint with lowered learning rates, and say so."""
        root = run.folder.root
        training = run.step.training
        optimizers = (training.opt_g, training.opt_d)
        lowered = [[group["lr"] * self.lr_factor for group in opt.param_groups] for opt in optimizers]
        rollbacks = run.progress.rollbacks + 1  # the checkpoint's own count would undo this one
        run.restore(find_resume_point(root))
        run.progress.rollbacks = rollbacks
        for optimizer, rates in zip(optimizers, lowered):
            for group, lr in zip(optimizer.param_groups, rates):
                group["lr"] = lr
        run.step.device_step.state_replaced()
        run.step.guard.reset()
        if run.world.is_main:
            run.folder.truncate_metrics(run.progress.step)
            run.open_loggers()  # what they logged past the step rolled back to is dropped
        run.reporter.notify(f"{problem}; rolled back to step {run.progress.step} with learning rates "
                            f"lr_g {lowered[0][0]:.3g}, lr_d {lowered[1][0]:.3g} "
                            f"(rollback {run.progress.rollbacks} of {self.most})")

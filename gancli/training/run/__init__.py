"""The run: the loop over steps and everything it reads and writes.

`setup.py` builds a run from its config (new, or resumed from a run folder); `trainer.py` loops;
the run folder and its lock (`folder.py`, `lock.py`), what a checkpoint carries (`snapshot.py`),
which checkpoint to resume from (`resume.py`), the rollback policy (`rollback.py`), scores while
training (`best.py`), what stops a run (`stopping.py`) and the timelapse (`timelapse.py`).
"""

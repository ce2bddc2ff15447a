"""The step: everything one training step needs, on any device, knowing nothing of run folders.

`assembly.py` builds it from a `TrainConfig` (`resolve_model`, then `assemble_step`); `gan_step.py`
is its arithmetic (update D, then G); `device_step.py` runs the whole step on the device, as one
CUDA graph where it can (`graph.py`); `bench.py` times it. The run (`gancli.training.run`) loops
over steps and writes what they make.
"""

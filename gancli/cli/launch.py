"""`gancli train --nproc N`: run the same command as N local processes under torchrun.

`python -m gancli.cli.launch ARGS` is torchrun with ARGS, exiting with the first failed rank's
own exit code instead of torchrun's traceback.
"""

from __future__ import annotations

import subprocess
import sys

from gancli.errors import ConfigError
from gancli.training.step.distributed import launched_by_torchrun


def launch_local(nproc: int, argv: list[str]) -> int:
    """Run `gancli ARGV` (without --nproc) as `nproc` processes on this machine under
    torchrun; returns its exit code."""
    if nproc < 1:
        raise ConfigError(f"--nproc must be positive, got {nproc}")
    if launched_by_torchrun():
        raise ConfigError("--nproc launches torchrun itself; under torchrun, drop --nproc")
    command = [sys.executable, "-m", "gancli.cli.launch", "--standalone",
               f"--nproc-per-node={nproc}", "-m", "gancli", *without_nproc(argv)]
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:  # torchrun passes the signal on to the ranks and waits for them
        return 130


def without_nproc(argv: list[str]) -> list[str]:
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            kept.append(arg)
    return kept


def torchrun(args: list[str]) -> int:
    """torchrun with `args`, returning the first failed rank's exit code (130 after Ctrl-C, for
    example) where torchrun would print its own traceback and exit with 1; the rank has said why."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    try:
        run(parse_args(args))
    except ChildFailedError as err:
        _, failure = err.get_first_failure()
        return failure.exitcode if failure.exitcode > 0 else 1
    return 0


if __name__ == "__main__":  # what `gancli train --nproc N` runs
    sys.exit(torchrun(sys.argv[1:]))

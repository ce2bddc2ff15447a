"""Started with this folder on PYTHONPATH, a process applies the write fault that WRITE_FAULT
describes (see write_faults.py) to every write gancli makes, from its first line."""

import os

if os.environ.get("WRITE_FAULT"):
    import write_faults

    write_faults.install_from_environment()

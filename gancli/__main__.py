"""`python -m gancli`: the same entry point as the `gancli` console script."""

from gancli.cli import main

if __name__ == "__main__":
    main()

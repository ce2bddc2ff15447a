"""Command-line interface; `main` is the `gancli` console script."""

from gancli.cli.app import app


def main() -> None:
    app(prog_name="gancli")


__all__ = ["app", "main"]

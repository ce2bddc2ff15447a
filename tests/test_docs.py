"""docs/plugins.md's examples, installed exactly as written, keep the contract they describe."""

import importlib
import re
import sys
from pathlib import Path

from conftest import tomllib

from gancli.architectures import architectures
from gancli.datasets import datasets
from gancli.loggers import loggers
from gancli.losses import losses

DOCS = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"


def blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", DOCS.read_text(), flags=re.S)


def test_the_plugin_guide_examples_install_and_pass_every_kit(tmp_path, monkeypatch):
    site = tmp_path / "site-packages"
    sources = {match.group(1): block for block in blocks("python")
               if (match := re.match(r"# (\S+\.py)\n", block))}
    assert {"mypackage/arch.py", "mypackage/losses.py", "mypackage/data.py", "tests/test_conformance.py"} <= set(sources)
    for name, source in sources.items():
        if name.startswith("mypackage/"):
            (site / name).parent.mkdir(parents=True, exist_ok=True)
            (site / name).write_text(source)
    (site / "mypackage" / "__init__.py").write_text("")
    (toml,) = [block for block in blocks("toml") if block.startswith("# pyproject.toml")]
    groups = tomllib.loads(toml)["project"]["entry-points"]
    dist_info = site / "mypackage-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: mypackage\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in entries.items())
        for group, entries in groups.items()))
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    for registry in (architectures, datasets, losses, loggers):
        registry.refresh()
    try:
        namespace = {}
        exec(sources["tests/test_conformance.py"], namespace)
        namespace["test_mypackage_keeps_the_gancli_contract"](tmp_path / "work")
        assert architectures.find("tiny").package == "mypackage"
    finally:
        for module in [name for name in sys.modules if name == "mypackage" or name.startswith("mypackage.")]:
            del sys.modules[module]
        monkeypatch.undo()
        importlib.invalidate_caches()
        for registry in (architectures, datasets, losses, loggers):
            registry.refresh()

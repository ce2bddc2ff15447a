"""The README's commands are the ones CI and users run; keep them in step."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands():
    text = (ROOT / "README.md").read_text()
    quick_start = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", quick_start)


def test_the_quick_start_has_two_commands_and_ci_runs_the_second():
    commands = readme_commands()
    assert len(commands) == 2
    ci_script = (ROOT / ".ci" / "run").read_text()
    test_command = commands[1].replace("pip install ", "pip install -q ", 1)
    assert test_command in ci_script


def test_the_quick_start_config_exists_and_resolves():
    from gancli.config import resolve_config

    config_path = re.search(r"--config (\S+)", readme_commands()[0]).group(1)
    config = resolve_config(ROOT / config_path, [], {})
    assert config.data == "synthetic" and config.arch == "dcgan"
    assert f"{config.out}/checkpoints/last.safetensors" in readme_commands()[0]

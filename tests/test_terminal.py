"""What a person sees in a terminal 80 columns wide: `gancli train` run in a pseudo-terminal, its
output read back through a small terminal model, as the screen shows it."""

import io
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time

from conftest import TINY_MODEL, tiny_config
from rich.console import Console

from gancli.cli.progress import RichReporter
from gancli.training.run.trainer import train

COLUMNS = 80
TINY = ["--data", "synthetic", "--split", "test", "--batch-size", "8", "--device", "cpu", "--sample-every", "0",
        *[f"--set=model.{key}={value}" for key, value in TINY_MODEL.items()]]
ESCAPE = re.compile(r"\x1b\[([?0-9;]*)([A-Za-z])")
STEP_COUNT = re.compile(r"\b\d+/(\d+)\b")
TIME_LEFT = re.compile(r"\b\d+:\d\d:\d\d\b|-:--:--")


class Screen:
    """Enough of a terminal to read what is on screen: text with autowrap, carriage return, new
    line, cursor up, down and to a column, and erasing a line. Colours and modes are ignored; any
    other escape fails the test, so a display that needs more cannot pass unread."""

    def __init__(self, columns: int = COLUMNS):
        self.columns = columns
        self.lines = [""]
        self.row = self.col = 0
        self.seen: list[str] = []  # every line as the cursor left it: each frame the display drew

    def feed(self, text: str) -> "Screen":
        at = 0
        while at < len(text):
            char = text[at]
            if char == "\x1b":
                match = ESCAPE.match(text, at)
                assert match, f"an escape this screen does not know: {text[at:at + 12]!r}"
                self._escape(match.group(1), match.group(2))
                at = match.end()
                continue
            if char == "\r":
                self.col = 0
            elif char == "\n":  # a terminal's output processing adds the carriage return
                self._move(self.row + 1)
                self.col = 0
            elif char >= " ":
                if self.col >= self.columns:  # the terminal wraps before the next character, not at the edge
                    self._move(self.row + 1)
                    self.col = 0
                line = self.lines[self.row].ljust(self.col)
                self.lines[self.row] = line[:self.col] + char + line[self.col + 1:]
                self.col += 1
            at += 1
        return self

    def _escape(self, parameters: str, command: str) -> None:
        count = int(parameters) if parameters.isdigit() else 1
        if command == "A":
            self._move(max(0, self.row - count))
        elif command == "B":
            self._move(self.row + count)
        elif command == "G":
            self.col = count - 1
        elif command == "K":
            line = self.lines[self.row]
            self.lines[self.row] = "" if parameters == "2" else line[:self.col] if parameters in ("", "0") else line
        elif command not in "mhl":  # colours; showing and hiding the cursor
            raise AssertionError(f"an escape this screen does not know: ESC[{parameters}{command}")

    def _move(self, row: int) -> None:
        self.seen.append(self.lines[self.row].rstrip())
        while len(self.lines) <= row:
            self.lines.append("")
        self.row = row

    @property
    def text(self) -> list[str]:
        return [line.rstrip() for line in self.lines]


def run_in_terminal(args, interrupt_when=None, deadline_s=300):
    """Run `gancli ARGS` on a pseudo-terminal of 80 columns; with `interrupt_when`, press Ctrl-C
    once what the terminal shows satisfies it. Returns (exit code, Screen)."""
    pid, terminal = pty.fork()
    if pid == 0:  # the child: the terminal is its own, as in a shell
        env = {key: value for key, value in os.environ.items() if key not in ("NO_COLOR", "FORCE_COLOR")}
        env.update(COLUMNS=str(COLUMNS), LINES="30", TERM="xterm-256color")
        os.execvpe(sys.executable, [sys.executable, "-m", "gancli", *map(str, args)], env)
    screen, interrupted, output = Screen(), False, b""
    deadline = time.monotonic() + deadline_s  # a guard against hanging, not an assertion on speed
    while time.monotonic() < deadline:
        ready, _, _ = select.select([terminal], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(terminal, 65536)
            except OSError:  # the child closed the terminal: it has exited
                break
            if not chunk:
                break
            output += chunk
        if interrupt_when is not None and not interrupted:
            shown = Screen().feed(output.decode("utf-8", "replace"))
            if interrupt_when(shown.text):
                os.write(terminal, b"\x03")  # Ctrl-C, as the keyboard sends it
                interrupted = True
    else:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    os.close(terminal)
    return os.waitstatus_to_exitcode(status), screen.feed(output.decode("utf-8", "replace"))


def step_lines(lines):
    return [line for line in lines if line.startswith("steps ")]


def test_at_80_columns_the_step_count_and_time_left_are_never_cut_and_the_losses_have_their_own_line(tmp_path):
    code, screen = run_in_terminal(["train", *TINY, "--steps", 40, "--log-every", 5, "--out", tmp_path / "run"])
    assert code == 0, screen.text
    drawn = step_lines(screen.seen + screen.text)
    assert drawn, screen.text
    for line in drawn:  # every frame the display drew, not only the last
        assert STEP_COUNT.search(line) and STEP_COUNT.search(line).group(1) == "40", line
        assert TIME_LEFT.search(line) and "…" not in line, line
        assert "epoch 1/1" in line, line
    assert all(len(line) <= COLUMNS for line in screen.seen + screen.text)
    final = screen.text
    assert re.search(r"40/40 0:00:00 [\d,]+ img/s epoch 1/1$", step_lines(final)[0]), final
    losses = [line for line in final if line.startswith("step 40: loss_d ")]
    assert losses and "D(G(z))" in losses[0], final


def test_ctrl_c_leaves_one_display_and_the_line_to_resume(tmp_path):
    out = tmp_path / "run"
    code, screen = run_in_terminal(["train", *TINY, "--steps", 100_000, "--log-every", 2, "--out", out],
                                   interrupt_when=lambda lines: any("loss_d" in line for line in lines))
    assert code == 130, screen.text
    final = screen.text
    assert sum("━" in line for line in final) == 1, final  # one bar, drawn once
    assert len(step_lines(final)) == 1, final
    assert sum(line.startswith("step ") and "loss_d" in line for line in final) == 1, final
    stopped = "\n".join(final).replace("\n", "")  # the line wraps at 80 columns
    assert "Interrupted: stopped by SIGINT at step" in stopped and f"gancli train --resume {out}" in stopped


def test_the_latest_scores_have_a_line_of_their_own(tmp_path, standin_extractor, monkeypatch):
    monkeypatch.setenv("GANCLI_CACHE", str(tmp_path / "cache"))
    buffer = io.StringIO()
    console = Console(file=buffer, width=COLUMNS, force_terminal=True, color_system=None)
    train(tiny_config(tmp_path / "run", steps=4, eval_every=2, eval_num=16), reporter=RichReporter(console),
          feature_extractor=standin_extractor)
    final = Screen().feed(buffer.getvalue()).text
    assert any(re.fullmatch(r"step 4: FID \d+\.\d\d", line) for line in final), final
    assert "4/4" in step_lines(final)[0]


def test_piped_output_is_plain_lines(tmp_path):
    result = subprocess.run([sys.executable, "-m", "gancli", "train", *TINY, "--steps", "2", "--log-every", "1",
                             "--out", str(tmp_path / "run")], capture_output=True, text=True)
    assert result.returncode == 0 and result.stderr == "", result.stderr  # stderr is for an error alone
    assert "\x1b" not in result.stdout
    lines = result.stdout.splitlines()
    assert lines[0].startswith("step: eager") and lines[1].startswith("step 1/2  epoch 0  loss_d "), lines

"""The ``arque`` command on a terminal: the confirmation prompt, the progress bar, ``stats --watch``.

Commands run as real processes with a pseudo-terminal (``pty``) as stdin,
stdout and stderr, as when a person types them.
"""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from helpers import child_env
from test_cli import dead_letters, on, stats_of

ROOT = Path(__file__).resolve().parents[1]


class Terminal:
    """``python -m arque ARGS`` on a pseudo-terminal; ``expect`` reads until a text shows."""

    def __init__(self, *args: str) -> None:
        master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "arque", *args], cwd=ROOT, env=child_env(COLUMNS="80"),
            stdin=slave, stdout=slave, stderr=slave, close_fds=True, start_new_session=True,
        )
        os.close(slave)
        self._master = master
        self.output = ""

    def read(self, timeout: float) -> bool:
        """Read what is there within ``timeout``; False at end of output."""
        ready, _, _ = select.select([self._master], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self._master, 4096)
        except OSError:  # EIO: the child closed the terminal
            return False
        self.output += chunk.decode(errors="replace")
        return bool(chunk)

    def expect(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            assert time.monotonic() < deadline, f"{text!r} not shown; got {self.output!r}"
            assert self.read(0.1), f"ended before {text!r}; got {self.output!r}"

    def type(self, text: str) -> None:
        os.write(self._master, text.encode())

    def finish(self, timeout: float = 30.0) -> int:
        """Read to the end; the exit status."""
        deadline = time.monotonic() + timeout
        while self.read(0.1) and self.proc.poll() is None:
            assert time.monotonic() < deadline, self.output
        while self.read(0.05):
            pass
        status = self.proc.wait(timeout)
        os.close(self._master)
        return status


def test_purge_asks_on_a_terminal_and_a_no_changes_nothing(
    redis_url: str, queue_name: str
) -> None:
    dead_letters(redis_url, queue_name, ["rejected"] * 3)
    term = Terminal(*on(redis_url, queue_name, "failed", "purge", "--all"))
    term.expect(f"Purge 3 dead letters of queue '{queue_name}'? [y/N]: ")
    term.type("n\n")
    assert term.finish() == 1
    assert "arque: error: declined: nothing changed" in term.output
    assert stats_of(redis_url, queue_name).failed == 3


def test_replay_asks_and_shows_a_progress_bar_on_a_terminal(
    redis_url: str, queue_name: str
) -> None:
    count = 120  # above the size that gets a bar (a tenth of a page of 500)
    dead_letters(redis_url, queue_name, ["rejected"] * count)
    term = Terminal(*on(redis_url, queue_name, "failed", "replay", "--reason", "rejected"))
    term.expect(f"Replay {count} dead letters of reason 'rejected' of queue '{queue_name}'? ")
    term.type("y\n")
    assert term.finish() == 0, term.output
    after_prompt = term.output.split("[y/N]: ", 1)[1]
    assert "Replaying" in after_prompt and "100%" in after_prompt, term.output  # the bar
    assert f"Replayed {count} dead letters of reason 'rejected'" in after_prompt
    assert stats_of(redis_url, queue_name).pending == count


def test_no_progress_bar_for_a_few(redis_url: str, queue_name: str) -> None:
    dead_letters(redis_url, queue_name, ["rejected"] * 3)
    term = Terminal(*on(redis_url, queue_name, "failed", "replay", "--all", "--yes"))
    assert term.finish() == 0
    assert "Replaying" not in term.output and "Replayed 3 dead letters" in term.output


def test_stats_watch_redraws_a_table_until_ctrl_c(redis_url: str, queue_name: str) -> None:
    term = Terminal(*on(redis_url, queue_name, "stats", "--watch", "--interval", "0.2"))
    header = "prefix 'arque'  every 0.2 s"
    term.expect(header)
    deadline = time.monotonic() + 30
    while term.output.count(header) < 3:  # redrawn, again and again
        assert time.monotonic() < deadline, term.output
        assert term.read(0.1), term.output
    term.proc.send_signal(signal.SIGINT)
    assert term.finish() == 0
    assert "\x1b[2J" in term.output  # the screen is cleared before each redraw
    rows = [line.split() for line in term.output.splitlines()]
    assert ["queue", "pending", "delayed", "working", "failed", "tasks"] in rows
    assert [queue_name, "0", "0", "0", "0", "0"] in rows
    assert "(Ctrl-C to stop)" in term.output and "Traceback" not in term.output

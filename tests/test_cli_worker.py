"""``arque worker``: --health-port, --grace-period, --log-level, a dotted handler, signals."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

from helpers import child_env
from test_cli import ROOT, on, stats_of
from test_cli import ok as cli_ok


class WorkerProcess:
    """``python -m arque worker ...`` with its stderr collected line by line."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "arque", "worker", *args], cwd=ROOT, env=child_env(),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._collect, daemon=True)
        self._reader.start()

    def _collect(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def __enter__(self) -> WorkerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.proc.poll() is None:  # the test failed early
            self.stop(signal.SIGKILL)

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            for line in list(self.lines):
                if found := re.search(pattern, line):
                    return found
            assert self.proc.poll() is None or time.monotonic() < deadline, self.log
            assert time.monotonic() < deadline, f"{pattern!r} not logged:\n{self.log}"
            time.sleep(0.05)

    def stop(self, *signals: signal.Signals, timeout: float = 60.0) -> tuple[int, float]:
        """Send ``signals`` 0.3 s apart; the exit status and the seconds it took."""
        began = time.monotonic()
        for signum in signals:
            self.proc.send_signal(signum)
            time.sleep(0.3)
        try:
            status = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._reader.join(10)
            if self.proc.stderr is not None:
                self.proc.stderr.close()
        return status, time.monotonic() - began


def _get(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        with exc:  # it holds the response open
            return exc.code


def test_health_port_debug_log_dotted_handler_and_a_second_signal(
    redis_url: str, queue_name: str
) -> None:
    cli_ok(*on(redis_url, queue_name, "enqueue", '{"sleep": 60}', "--task-timeout", "3"))
    with WorkerProcess(
        "tests.cli_app:handlers.nested", *on(redis_url, queue_name), "--health-port", "0",
        "--grace-period", "60", "--log-level", "debug",
    ) as worker:
        _second_signal_exits_1(worker, redis_url, queue_name)
    assert "Traceback" not in worker.log
    assert stats_of(redis_url, queue_name).working == 1  # left to its lease (3 s)


def _second_signal_exits_1(worker: WorkerProcess, redis_url: str, queue_name: str) -> None:
    port = int(worker.wait_for(r"health endpoint on [\d.]+:(\d+)")[1])
    worker.wait_for("consuming")
    deadline = time.monotonic() + 30
    while stats_of(redis_url, queue_name).working != 1:
        assert time.monotonic() < deadline, worker.log
        time.sleep(0.05)
    assert _get(port, "/healthz") == 200 and _get(port, "/readyz") == 200
    assert " DEBUG " in worker.log  # --log-level debug shows debug lines
    status, took = worker.stop(signal.SIGTERM, signal.SIGTERM)
    assert status == 1, worker.log  # the second signal: at once, not after 60 s of grace
    assert took < 20, took
    assert "second signal, exiting at once" in worker.log


def test_grace_period_hands_back_and_log_level_warning_is_quiet(
    redis_url: str, queue_name: str
) -> None:
    cli_ok(*on(redis_url, queue_name, "enqueue", '{"sleep": 60}', "--task-id", "long"))
    with WorkerProcess(
        "tests.cli_app:handler", *on(redis_url, queue_name), "--grace-period", "0.5",
        "--log-level", "warning",
    ) as worker:
        deadline = time.monotonic() + 30
        while stats_of(redis_url, queue_name).working != 1:
            assert time.monotonic() < deadline, worker.log
            time.sleep(0.05)
        status, took = worker.stop(signal.SIGTERM)
    assert status == 0, worker.log
    assert took < 0.5 + 10, took  # the grace period and a fetch on the wire, not 60 s
    assert "finishing in-flight tasks (up to 0.5 s)" in worker.log
    assert "grace period over, handing back 1 tasks" in worker.log
    assert " INFO " not in worker.log and "consuming" not in worker.log  # warning and up only
    stats = stats_of(redis_url, queue_name)
    assert (stats.pending, stats.working) == (1, 0)  # handed back unused

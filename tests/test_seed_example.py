"""examples/seed_example.py: the 1.1.0 README example runs on redis.asyncio.

It runs as a subprocess on a private server (it uses the default prefix and
queue), is stopped with SIGTERM as in production, and its log is checked.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

from arque.testing import RedisServer

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "seed_example.py"
RUN_SECONDS = 6.0
EXIT_WITHIN = 5.0
SEED_COROUTINES = ("consume_task", "produce_task", "sweep_task", "stats_task")


def _tracebacks(lines: list[str]) -> list[tuple[str, list[str]]]:
    """Each traceback in ``lines``: (the line before it, its lines up to the exception line)."""
    found = []
    for i, line in enumerate(lines):
        if line == "Traceback (most recent call last):":
            end = i + 1
            while end < len(lines) and lines[end].startswith(" "):
                end += 1
            found.append((lines[i - 1] if i else "", lines[i : end + 1]))
    return found


def _is_seed_shutdown(before: str, traceback: list[str]) -> bool:
    """Whether a traceback is one the seed's own shutdown() prints.

    shutdown() cancels every task, the main one included, so
    run_until_complete() re-raises CancelledError (exit status 1). The loop is
    then closed, and a cancelled coroutine that had not yet reached its
    ``finally: await redis.aclose()`` runs it when collected at exit: "Event
    loop is closed", printed as an ignored exception.
    """
    if traceback[-1] == "asyncio.exceptions.CancelledError":
        return "loop.run_until_complete(example())" in traceback[2]
    ignored = re.fullmatch(r"Exception ignored in: <coroutine object (\w+) at 0x[0-9a-f]+>", before)
    return (
        ignored is not None
        and ignored[1] in SEED_COROUTINES
        and f'"{EXAMPLE}"' in traceback[1] and traceback[1].endswith("in wrapped")
        and traceback[-1] == "RuntimeError: Event loop is closed"
    )


def _read_lines(stream: IO[str], into: list[str], started: threading.Event) -> None:
    for line in stream:
        into.append(line.rstrip("\n"))
        if line.rstrip().endswith("Starting stats..."):  # the last loop to start
            started.set()


def test_seed_example_produces_consumes_and_stops_on_sigterm(
    own_redis_server: RedisServer,
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDEVMODE", "PYTHONWARNINGS")}
    env["REDIS_URL"] = own_redis_server.url
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLE)], env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    lines: list[str] = []
    started = threading.Event()
    assert proc.stdout is not None
    reader = threading.Thread(target=_read_lines, args=(proc.stdout, lines, started), daemon=True)
    reader.start()
    try:
        # Its signal handlers are installed once it logs; SIGTERM before would just kill it.
        assert started.wait(30), "\n".join(lines)
        time.sleep(RUN_SECONDS)
        assert proc.poll() is None, "\n".join(lines)
        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        proc.wait(timeout=30)
        took = time.monotonic() - signalled
        reader.join(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    output = "\n".join(lines)

    assert took < EXIT_WITHIN, output
    assert sum("Produced task {'value': " in line for line in lines) >= 3, output
    assert sum("Consumed task {'value': " in line for line in lines) >= 2, output
    assert any("{'tasks': " in line for line in lines), output  # stats_task logged
    assert "Job processing has failed" not in output
    assert any(line.endswith("Received exit signal SIGTERM...") for line in lines), output
    assert any(line.endswith("Successfully shutdown...") for line in lines), output

    tracebacks = _tracebacks(lines)
    assert tracebacks, output
    assert tracebacks[0][1][-1] == "asyncio.exceptions.CancelledError", output
    for before, traceback in tracebacks:
        assert _is_seed_shutdown(before, traceback), "\n".join([before, *traceback])
    assert proc.returncode == 1, output  # the seed lets the CancelledError escape

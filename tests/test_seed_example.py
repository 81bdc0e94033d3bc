"""examples/seed_example.py: the 1.1.0 README example runs on redis.asyncio.

It runs as a subprocess on a private server (it uses the default prefix and
queue), is stopped with SIGTERM as in production, and its log is checked: it
stops cleanly, with status 0 and no traceback.
"""

from __future__ import annotations

import os
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

    assert any(line.endswith("Flushing metrics") for line in lines), output  # shutdown() ended
    assert "Traceback" not in output and "Exception ignored" not in output, output
    assert "CancelledError" not in output, output
    assert proc.returncode == 0, output

"""``python -m arque demo``: runs a worker, shows its stats, cleans up after itself."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis as redis_py

import arque.__main__
from arque.demo import NO_LOCAL_ENV
from arque.testing import RedisServer
from helpers import child_env

STATS_LINE = re.compile(
    r"^ +\d+s  pending +\d+  delayed +\d+  working +\d+  failed +\d+  processed/s +(\d+)"
    r"  retried/s +\d+  dead/s +\d+$",
    re.MULTILINE,
)
SUMMARY = re.compile(
    r"^Produced (\d+), processed (\d+), retried (\d+), dead-lettered (\d+), timed out \d+, "
    r"handed back \d+\.$", re.MULTILINE,
)
EMBEDDED_LINE = re.compile(
    r"^Redis: (redis://\S+) \(embedded redis-server .* dir (\S+);", re.MULTILINE
)


def _env(**extra: str) -> dict[str, str]:
    """The environment of a demo run: no $REDIS_URL, and never the server on 6379."""
    return child_env(**{NO_LOCAL_ENV: "1", **extra})


def _demo(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "arque", "demo", *args], env=_env(**env),
        capture_output=True, text=True, timeout=60, check=False,
    )


def _processed(output: str) -> int:
    match = re.search(r"^ final  .*  processed (\d+)$", output, re.MULTILINE)
    assert match, output
    return int(match[1])


def _assert_stopped(output: str) -> None:
    """The embedded server the demo printed is gone, and so is its directory."""
    match = EMBEDDED_LINE.search(output)
    assert match, output
    url, directory = match[1], match[2]
    assert output.rstrip().endswith("Embedded redis-server stopped."), output
    assert not Path(directory).exists()
    client = redis_py.Redis.from_url(url, socket_connect_timeout=1)
    with client, pytest.raises(redis_py.ConnectionError):
        client.ping()


def test_demo_on_a_given_server_processes_tasks_and_deletes_its_keys(
    own_redis_server: RedisServer,
) -> None:
    done = _demo("--seconds", "3", "--redis", own_redis_server.url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""
    assert f"Redis: {own_redis_server.url} (from --redis)" in done.stdout
    per_second = [int(n) for n in STATS_LINE.findall(done.stdout)]
    assert len(per_second) >= 2, done.stdout
    assert sum(per_second) > 0 and _processed(done.stdout) >= sum(per_second), done.stdout
    assert "3 s are up: stopping..." in done.stdout
    summary = SUMMARY.search(done.stdout)
    assert summary, done.stdout
    produced, processed, retried, _ = map(int, summary.groups())
    assert produced > processed == _processed(done.stdout)
    assert retried > 0, done.stdout  # one task in ten fails at random: the worker retries it
    with redis_py.Redis.from_url(own_redis_server.url) as client:
        assert client.keys("*") == []


def test_demo_live_view_redraws_a_panel_in_place(redis_url: str) -> None:
    done = _demo("--seconds", "2.5", "--live", "--redis", redis_url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""
    out = done.stdout
    assert "\x1b[?25l" in out and out.count("\x1b[13F") >= 1 and "\x1b[?25h" in out
    frames = re.findall(  # the first frame hides the cursor, the next ones go up first
        r"^(?:\x1b\[\?25l|\x1b\[13F)\x1b\[2K +(\d+) s  "
        r"queue 'demo-[0-9a-f]+'  \(Ctrl-C to stop\)$",
        out, re.MULTILINE)
    assert frames[:2] == ["1", "2"], out
    for name in ("pending", "delayed", "working", "failed", "enqueued", "processed",
                 "retried", "dead-lettered", "timed out"):
        assert re.search(rf"^\x1b\[2K  {name} +\d+", out, re.MULTILINE), name
    assert not STATS_LINE.search(out)
    assert "Deleted the keys of queue" in out


def test_demo_without_redis_starts_an_embedded_server_and_stops_it() -> None:
    done = _demo("--seconds", "3")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""
    assert len(STATS_LINE.findall(done.stdout)) >= 2, done.stdout
    assert _processed(done.stdout) > 0
    _assert_stopped(done.stdout)


def test_demo_without_any_redis_says_so(tmp_path: Path) -> None:
    done = _demo("--seconds", "1", ARQUE_REDIS_SERVER=str(tmp_path / "redis-server"))
    assert done.returncode == 1
    assert done.stderr.startswith("arque demo: no Redis to use: $ARQUE_REDIS_SERVER="), done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_demo_stops_cleanly_on_ctrl_c() -> None:
    """Ctrl-C signals the whole process group: the embedded server gets it too."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "arque", "demo"], env=_env(), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )
    with proc:
        assert proc.stdout is not None
        head = ""
        for line in proc.stdout:  # up to the first stats line: the loops are running
            head += line
            if STATS_LINE.match(line.rstrip("\n")):
                break
        os.killpg(proc.pid, signal.SIGINT)
        signalled = time.monotonic()
        out, err = proc.communicate(timeout=30)
    assert time.monotonic() - signalled < 5
    assert proc.returncode == 0, out + err
    assert err == ""
    assert "Stopping..." in out
    _assert_stopped(head + out)


def test_main_without_click_says_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "click", None)
    monkeypatch.delitem(sys.modules, "arque.cli", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        arque.__main__.main()
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "arque: the command line needs click: pip install 'arque[cli]'\n"


@pytest.mark.parametrize("form", ["user", "query", "env"])
def test_demo_never_prints_the_password(own_redis_server: RedisServer, form: str) -> None:
    secret = "s3cret-pw"
    with redis_py.Redis.from_url(own_redis_server.url) as admin:
        admin.acl_setuser("app", enabled=True, passwords=[f"+{secret}"], keys=["*"],
                          channels=["*"], commands=["+@all"])
    host = own_redis_server.url.removeprefix("redis://")
    url = (f"redis://app@{host}?password={secret}" if form == "query"
           else f"redis://app:{secret}@{host}")
    done = (_demo("--seconds", "1", REDIS_URL=url) if form == "env"
            else _demo("--seconds", "1", "--redis", url))
    assert done.returncode == 0, done.stdout + done.stderr
    assert secret not in done.stdout + done.stderr
    assert "***" in done.stdout and _processed(done.stdout) > 0

"""Redis URLs are printed without their passwords."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from arque.urls import redact


@pytest.mark.parametrize(("url", "shown"), [
    ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ("redis://user:secret@host:6379/0", "redis://user:***@host:6379/0"),
    ("redis://:secret@host", "redis://:***@host"),
    ("rediss://:secret@[::1]:6380/2", "rediss://:***@[::1]:6380/2"),
    ("redis://user:p%40ss@host/0", "redis://user:***@host/0"),
    ("redis://host:6379/0?password=secret", "redis://host:6379/0?password=***"),
    ("redis://host/0?db=1&password=secret&socket_timeout=2",
     "redis://host/0?db=1&password=***&socket_timeout=2"),
    ("redis://host?sentinel_password=secret", "redis://host?sentinel_password=***"),
    ("unix://user:secret@/tmp/redis.sock?db=0", "unix://user:***@/tmp/redis.sock?db=0"),
    ("unix:///tmp/redis.sock?password=secret", "unix:///tmp/redis.sock?password=***"),
    ("redis://user@host", "redis://user@host"),
    ("redis+sentinel://:secret@h1:26379,h2:26379/mymaster?sentinel_password=s2",
     "redis+sentinel://:***@h1:26379,h2:26379/mymaster?sentinel_password=***"),
])
def test_redact(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_an_unparsable_url_is_not_shown() -> None:
    assert "secret" not in redact("redis://:secret@[::1")


@pytest.mark.parametrize("url", ["redis://127.0.0.1:1/0?password=secret",
                                 "redis://user:secret@127.0.0.1:1/0"])
def test_the_cli_never_prints_the_password(url: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    done = subprocess.run([sys.executable, "-m", "arque", "stats", "--redis", url], env=env,
                          text=True, capture_output=True, timeout=60, check=False)
    assert done.returncode == 3, done.stderr
    assert "secret" not in done.stdout + done.stderr and "***" in done.stderr, done.stderr

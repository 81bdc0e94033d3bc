#!/usr/bin/env bash
# Run `make test` several times in a row with CPU load beside it: the suite must
# pass every time on a loaded machine, not just on a quiet one.
#
#   benchmarks/stress_suite.sh                       # 10 runs of the whole suite, load on every core
#   benchmarks/stress_suite.sh -n 2 -a '-q -x -m "not slow"'   # 2 runs of the quick part
#   benchmarks/stress_suite.sh -w 1                  # one busy process instead of one per core
#
# The load is `stress-ng --cpu W` (apt-get install stress-ng), else W Python
# busy loops. Each run's output goes to benchmarks/.work/stress/run-N.log; a
# summary line per run (status, seconds, pytest's last line) is printed and
# kept in summary.txt. Exit status: 0 when every run passed, else 1.
set -uo pipefail
cd "$(dirname "$0")/.."

runs=10
workers=$(nproc 2>/dev/null || echo 2)
pytest_args="-q"
usage="usage: $0 [-n RUNS] [-w LOAD_WORKERS] [-a PYTEST_ARGS]"
while getopts "n:w:a:h" opt; do
    case $opt in
        n) runs=$OPTARG ;;
        w) workers=$OPTARG ;;
        a) pytest_args=$OPTARG ;;
        *) echo "$usage" >&2; exit 2 ;;
    esac
done

out=benchmarks/.work/stress
mkdir -p "$out"
summary=$out/summary.txt
: > "$summary"

load_pid=""
stop_load() {
    if [ -n "$load_pid" ]; then
        kill -- "-$load_pid" 2>/dev/null || kill "$load_pid" 2>/dev/null
        wait "$load_pid" 2>/dev/null
        load_pid=""
    fi
}
trap stop_load EXIT
trap 'exit 130' INT TERM

# The load runs in a process group of its own, so that it is stopped as a whole.
if command -v stress-ng >/dev/null; then
    load="stress-ng --cpu $workers --cpu-method all --quiet"
    setsid stress-ng --cpu "$workers" --cpu-method all --quiet &
else
    load="$workers Python busy loops"
    setsid python3 -c "
import multiprocessing as mp
def spin():
    while True:
        pass
procs = [mp.Process(target=spin, daemon=True) for _ in range($workers)]
[p.start() for p in procs]
[p.join() for p in procs]
" &
fi
load_pid=$!
echo "load: $load (pid $load_pid); $runs runs of: make test PYTEST_ARGS='$pytest_args'" | tee -a "$summary"

failed=0
for run in $(seq 1 "$runs"); do
    log=$out/run-$run.log
    began=$(date +%s)
    make test PYTEST_ARGS="$pytest_args" > "$log" 2>&1
    status=$?
    took=$(( $(date +%s) - began ))
    last=$(grep -E "(passed|failed|error)" "$log" | tail -1)
    line="run $run/$runs: status $status, ${took} s: $last"
    echo "$line" | tee -a "$summary"
    if [ "$status" -ne 0 ]; then
        failed=$((failed + 1))
        grep -E "^(FAILED|ERROR) " "$log" | tee -a "$summary"
    fi
done
stop_load
echo "$((runs - failed)) of $runs runs passed under load" | tee -a "$summary"
[ "$failed" -eq 0 ]

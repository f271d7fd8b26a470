#!/usr/bin/env bash
# Side-by-side HTTP benchmark: Hearth, the peer (Helios FHIR Server) and an axum ceiling on
# loopback, the same Synthea data and the same wrk load. See bench/README.md.
#
#   bench/run.sh                  # everything (installs wrk and the peer when missing)
#   BENCH_PEER=0 bench/run.sh     # Hearth and the ceiling only
#
# Settings (environment): BENCH_DURATION (s per run, 3), BENCH_CONNS ("1 16 64"),
# BENCH_PEER (1), BENCH_CACHE (~/.cache/hearth-bench), BENCH_DATA (../shared/data/synthea),
# BENCH_HEARTH_SYNC (normal: the peer's SQLite setting), BENCH_OUT (target/bench).
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${BENCH_CACHE:-$HOME/.cache/hearth-bench}"
PEER="${BENCH_PEER:-1}"
HELIOS_VERSION=0.2.7
mkdir -p "$CACHE"

if ! command -v wrk >/dev/null; then
    echo "== installing wrk (Debian package)"
    apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi

echo "== building Hearth and the ceiling (release)"
cargo build --release --quiet --bin hearth --example ceiling

HFS="$CACHE/helios/bin/hfs"
if [ "$PEER" != 0 ] && [ ! -x "$HFS" ] && pgrep -f "cargo install helios-hfs" >/dev/null; then
    echo "== an install of the peer is already running (log: $CACHE/install.log); waiting for it"
    while pgrep -f "cargo install helios-hfs" >/dev/null; do sleep 10; done
fi
if [ "$PEER" != 0 ] && [ ! -x "$HFS" ]; then
    echo "== installing the peer: helios-hfs $HELIOS_VERSION into $CACHE/helios (30-60 min on 2 cores, once)"
    nice -n 19 cargo install helios-hfs --version "$HELIOS_VERSION" \
        --root "$CACHE/helios" --target-dir "$CACHE/helios-target" >"$CACHE/install.log" 2>&1 \
        || { echo "peer install failed, see $CACHE/install.log" >&2; exit 1; }
fi
[ "$PEER" != 0 ] || HFS=""

# Other jobs on the machine (builds) take CPU from the servers; the benchmark's processes
# run at a higher priority when allowed (BENCH_NICE=0 to turn off).
exec python3 bench/bench.py --nice "${BENCH_NICE:--10}" \
    --hearth target/release/hearth \
    --ceiling target/release/examples/ceiling \
    --peer "$HFS" \
    --data "${BENCH_DATA:-../shared/data/synthea}" \
    --duration "${BENCH_DURATION:-3}" \
    --conns "${BENCH_CONNS:-1 16 64}" \
    --hearth-sync "${BENCH_HEARTH_SYNC:-normal}" \
    --out "${BENCH_OUT:-target/bench}"

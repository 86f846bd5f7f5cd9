#!/bin/sh
# make bench: measured speeds, each beside a reference tool in the same run, on loopback only.
# Writes bench/results.md (the table the README quotes) and prints it.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
: "${CARGO_TARGET_DIR:=$HOME/.cache/anshin-target}"
N=${BENCH_HOSTS:-10000}
RUNS=${BENCH_RUNS:-5}
cd "$ROOT"
cargo build --release --locked -p anshin-engine --example ping_sweep --example feed_bench --example console_storm >/dev/null
cargo build --release --locked -p anshin-demo --example scale_sim >/dev/null
cargo build --release --locked -p anshin-report --example store_year >/dev/null
cargo build --release --locked -p anshin-cli >/dev/null
SWEEP="$CARGO_TARGET_DIR/release/examples/ping_sweep"
LIST=$(mktemp); trap 'rm -f "$LIST"' EXIT
i=0
while [ $i -lt "$N" ]; do echo "127.79.$((i / 250)).$((i % 250 + 1))"; i=$((i + 1)); done > "$LIST"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }

ours=""; theirs=""; replies=""
r=0
while [ $r -lt "$RUNS" ]; do
    line=$("$SWEEP" "$N")
    ours="$ours $(echo "$line" | sed 's/.*"seconds":\([0-9.]*\).*/\1/')"
    replies="$replies $(echo "$line" | sed 's/.*"replies":\([0-9]*\).*/\1/')"
    t0=$(now); fping -q -c1 -i0 -t500 -f "$LIST" 2>/dev/null || true; t1=$(now)
    theirs="$theirs $(echo "$t1 - $t0" | bc -l)"
    r=$((r + 1))
done
m_ours=$(for v in $ours; do echo "$v"; done | median)
m_theirs=$(for v in $theirs; do echo "$v"; done | median)
min_replies=$(for v in $replies; do echo "$v"; done | sort -n | head -1)
ratio=$(echo "$m_ours / $m_theirs" | bc -l)
cat > "$HERE/results.md" <<MD
# Benchmark results

Machine: $(nproc) cores, $(uname -r); $(date -u +%Y-%m-%d). Reproduce: \`make bench\` (as root).

| what | anshin | reference | ratio |
|---|---|---|---|
| ICMP sweep of $N loopback addresses, once each (median of $RUNS) | $(printf %.3f "$m_ours") s | fping -c1 -i0 -t500: $(printf %.3f "$m_theirs") s | $(printf %.2f "$ratio")× |
| replies received (worst of $RUNS runs; no false "ping down") | $min_replies / $N | | |
MD

# One console of a 2,000-server fleet with 20 check results changing per second: the feed's
# deltas beside the whole picture every second (what a status-polling console fetches).
feed=$("$CARGO_TARGET_DIR/release/examples/feed_bench" 2000 60 20)
field() { echo "$feed" | sed "s/.*\"$1\":\([0-9.]*\).*/\1/"; }
d_b=$(field delta_bytes_per_s); s_b=$(field snapshot_bytes_per_s)
d_ms=$(field delta_ms_per_s); s_ms=$(field snapshot_ms_per_s)
cat >> "$HERE/results.md" <<MD
| console feed, 2,000 servers, 20 changes/s: bytes per console per second | deltas: $(echo "$d_b / 1024" | bc -l | xargs printf %.1f) KiB | full picture every second (polling): $(echo "$s_b / 1024" | bc -l | xargs printf %.1f) KiB | $(echo "$d_b / $s_b" | bc -l | xargs printf %.3f)× |
| the same: engine CPU to serialize, per console per second | $d_ms ms | $s_ms ms | $(echo "$d_ms / $s_ms" | bc -l | xargs printf %.3f)× |
MD

# The UI drawing 10,000 tiles and applying deltas of 200 changed servers in Debian's chromium
# (no reference tool: none of the consoles it replaces runs here). Needs the built UI (make ui).
if [ -f "$ROOT/ui/dist/index.html" ] && [ -d "$ROOT/ui/node_modules" ] && [ -x /usr/bin/chromium ]; then
    { echo; echo "UI in Debian chromium (\`cd ui && npm run perf -- 10000 200\`: the generated fleet, no engine):"; echo; echo '```';
      (cd "$ROOT/ui" && npm run -s perf -- 10000 200 2>&1 | tail -n 20); echo '```'; } >> "$HERE/results.md"
fi
# The store after a simulated year: 3 servers polled every minute for 365 days through the
# engine's own storing, rollup and pruning rules, extrapolated to 10,000 (issue 16, Settled).
year=$("$CARGO_TARGET_DIR/release/examples/store_year" "$(mktemp -u /tmp/anshin-year-XXXXXX.db)" 3 365)
yf() { echo "$year" | sed "s/.*\"$1\":\([0-9.]*\).*/\1/"; }
per_server=$(yf bytes_per_server)
{ echo; echo "Store after a simulated year (\`store_year DB 3 365\`, release; default retention raw 7 d / 5-minute 90 d / hourly 730 d; a poll a minute; slow-changing readings on change): $(yf rows_inserted) readings inserted for 3 servers, $(yf raw_rows) raw rows and $(yf rollup_rows) rollup rows kept; $(echo "$per_server / 1048576" | bc -l | xargs printf %.1f) MiB per server, so $(echo "$per_server * 10000 / 1073741824" | bc -l | xargs printf %.0f) GiB for 10,000 servers; the monthly report's store reads for one customer (3 servers): $(echo "$year" | sed 's/.*"report_load_ms":\[\([^]]*\)\].*/\1/') ms (5 runs, the first cold)."; } >> "$HERE/results.md"
# The whole engine at 2,000 and 10,000 servers beside Icinga 2 + monitoring-plugins (bench/
# fleet_scale.py; it fails the bench when a check is lost or an outage opened no incident).
scale_ok=0
CARGO_TARGET_DIR="$CARGO_TARGET_DIR" /usr/bin/python3 "$HERE/fleet_scale.py" >> "$HERE/results.md" || scale_ok=$?
# A mail storm: one gateway in front of 1,000 customers goes down and comes back (bench/storm.py;
# it fails the bench when a customer is mailed twice or not at all).
storm_ok=0
CARGO_TARGET_DIR="$CARGO_TARGET_DIR" /usr/bin/python3 "$HERE/storm.py" >> "$HERE/results.md" || storm_ok=$?
# Resource polling over 2,000 persistent SSH sessions to real sshd, beside OpenSSH's own ways
# (bench/ssh_sessions.py; it fails the bench when polls are lost or a healthy server alerts).
ssh_ok=0
CARGO_TARGET_DIR="$CARGO_TARGET_DIR" /usr/bin/python3 "$HERE/ssh_sessions.py" >> "$HERE/results.md" || ssh_ok=$?
# Consoles beside verdicts: 2,000 simulated servers, 300 consoles at once and 200 heavy readers,
# each phase beside the idle engine (bench/consoles.py; it fails the bench on a false incident).
consoles_ok=0
CARGO_TARGET_DIR="$CARGO_TARGET_DIR" BENCH_PHASE_SECS=${BENCH_PHASE_SECS:-60} BENCH_WARMUP_SECS=${BENCH_WARMUP_SECS:-20} \
    python3 "$HERE/consoles.py" >> "$HERE/results.md" || consoles_ok=$?
# A full backup of a 1 GiB tree over loopback SSH beside `ssh … tar | zstd` by hand and the bare
# transport, in the same run (bench/backup.py; it fails the bench when a backup or the reference
# fails or the archive misses a file, never because a figure is slow).
backup_ok=0
CARGO_TARGET_DIR="$CARGO_TARGET_DIR" /usr/bin/python3 "$HERE/backup.py" >> "$HERE/results.md" || backup_ok=$?
cat "$HERE/results.md"
[ "$consoles_ok" -eq 0 ] || { echo "bench: consoles changed a verdict (see above)" >&2; exit 1; }
[ "$backup_ok" -eq 0 ] || { echo "bench: the backup benchmark failed (see above)" >&2; exit 1; }
[ "$storm_ok" -eq 0 ] || { echo "bench: the mail storm lost or repeated a mail (see above)" >&2; exit 1; }
[ "$ssh_ok" -eq 0 ] || { echo "bench: the SSH polling run lost polls or alerted (see above)" >&2; exit 1; }
[ "$scale_ok" -eq 0 ] || { echo "bench: the fleet-scale run lost a check or missed an outage (see above)" >&2; exit 1; }
[ "$min_replies" -eq "$N" ] || { echo "bench: replies were lost" >&2; exit 1; }

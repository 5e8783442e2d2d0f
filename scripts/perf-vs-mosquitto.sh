#!/usr/bin/env bash
# Runs issue 7's four scenarios (docs/PERFORMANCE.md, "herald against mosquitto")
# against herald and Debian's mosquitto (and the connect storm against herald-bench's
# null server, the machine's floor) in one session, on this machine, and writes
# the -json results and their plots into OUT (default: a new temporary directory).
#
#   apt-get install -y mosquitto      # the peer, /usr/sbin/mosquitto
#   scripts/perf-vs-mosquitto.sh [OUT [SCENARIO...]]
#
# SCENARIO is any of fanout, slow, idle, storm (default: all four, in that order).
# herald runs on 127.0.0.1:18080 (plain HTTP, as mosquitto's websockets are plain)
# with a fresh data dir before each group of scenarios (each QoS of the fan-out, the
# slow consumer, idle connections, the connect storm); mosquitto is started and
# stopped by herald-bench itself. Nothing else should run meanwhile: the two cores
# are shared by the server and the tool.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-$(mktemp -d /tmp/herald-perf.XXXX)}
shift || true
SCENARIOS=${*:-fanout slow idle storm}
for s in $SCENARIOS; do
  case $s in fanout|slow|idle|storm) ;; *) echo "unknown scenario $s (fanout, slow, idle, storm)" >&2; exit 2;; esac
done
want() { [[ " $SCENARIOS " == *" $1 "* ]]; }
mkdir -p "$OUT"
BIN=$(mktemp -d /tmp/herald-perf-bin.XXXX)
go build -o "$BIN/herald" ./cmd/herald
go build -o "$BIN/herald-bench" ./cmd/herald-bench
cat > "$BIN/bench.yaml" <<'YAML'
http:
  loginRatePerMinute: 100000     # provisioning logs in every user
mqtt:
  connectsPerSecondPerIP: 100000 # the connect storm
auth:
  passwordCost: 4                # provisioning creates and logs in ~1,000 users
YAML
export HERALD_ADMIN_PASSWORD=bench-admin-pw
PID=
stop() { [[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true; PID=; }
trap 'stop; rm -rf "$BIN"' EXIT
start() {
  stop
  # Another server on the port would answer in this one's place and be measured.
  if curl -s -o /dev/null http://127.0.0.1:18080/readyz; then
    echo "something already listens on 127.0.0.1:18080: stop it first" >&2; exit 1
  fi
  rm -rf "$BIN/data"
  "$BIN/herald" serve -config "$BIN/bench.yaml" -data-dir "$BIN/data" \
    -http-addr 127.0.0.1:18080 -addr "" -log-level warn >>"$OUT/herald.log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do
    kill -0 "$PID" 2>/dev/null || { echo "herald exited; see $OUT/herald.log" >&2; exit 1; }
    curl -sf http://127.0.0.1:18080/readyz >/dev/null && return
    sleep 0.1
  done
  echo "herald did not become ready" >&2; exit 1
}
B="$BIN/herald-bench"
SRC4=127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4
SRC8=$SRC4,127.0.0.5,127.0.0.6,127.0.0.7,127.0.0.8
H="-url http://127.0.0.1:18080"
run() { echo "+ $*" >&2; "$@"; }

if want fanout; then
  for q in 0 1; do
    start # each QoS on a fresh server: what a server holds in memory grows with what it stored
    run $B fanout $H -src $SRC4 -qos $q -rate 1000,2000,5000,0 -duration 10s -json >>"$OUT/fanout.jsonl"
    run $B fanout -target mosquitto -src $SRC4 -qos $q -rate 1000,2000,5000,0 -duration 10s -json >>"$OUT/fanout.jsonl"
  done
  $B plot -o "$OUT/fanout.png" "$OUT/fanout.jsonl"
fi
if want slow; then
  start
  run $B slow-consumer $H -src $SRC4 -qos 1 -rate 2000,5000 -duration 10s -json >>"$OUT/slow.jsonl"
  run $B slow-consumer -target mosquitto -src $SRC4 -qos 1 -rate 2000,5000 -duration 10s -json >>"$OUT/slow.jsonl"
  $B plot -o "$OUT/slow-consumer.png" "$OUT/slow.jsonl"
fi
if want idle; then
  start
  run $B idle $H -src $SRC4 -conns 2000,5000,10000,19000 -json >>"$OUT/idle.jsonl"
  run $B idle -target mosquitto -src $SRC4 -conns 2000,5000,10000,19000 -json >>"$OUT/idle.jsonl"
  $B plot -o "$OUT/idle.png" "$OUT/idle.jsonl"
fi
if want storm; then
  start
  run $B connect-storm $H -src $SRC8 -conns 10000 -workers 16,64,128 -json >>"$OUT/storm.jsonl"
  run $B connect-storm -target mosquitto -src $SRC8 -conns 10000 -workers 16,64,128 -json >>"$OUT/storm.jsonl"
  # The floor: a Go server that only answers (herald-bench null-server), no broker.
  run $B connect-storm -target null -src $SRC8 -conns 10000 -workers 16,64,128 -json >>"$OUT/storm.jsonl"
  $B plot -o "$OUT/connect-storm.png" "$OUT/storm.jsonl"
fi
stop
echo "results in $OUT: one JSON object per result line (herald-bench Result), and the plots"

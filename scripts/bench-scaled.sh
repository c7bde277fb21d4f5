#!/usr/bin/env bash
# Measures the cloud's uploads on its configurations, for a human run:
# embedded (SQLite + directory) and scaled (N replicas on PostgreSQL + an S3
# server, optionally NATS) at each replica count in REPLICAS, with
# 'vigil bench cloud'. Each scaled run gets a fresh database and a fresh S3
# server (versitygw over a temporary directory); 'uptime' is recorded
# with each figure, as the load of the machine bears on them.
#
#   scripts/bench-scaled.sh                    # embedded, then 1, 2, 3 replicas
#   REPLICAS="3" EMBEDDED=0 scripts/bench-scaled.sh
#   BUS=1 scripts/bench-scaled.sh              # also bus: {driver: nats} (a cloud that has it)
#
# Environment (defaults): HUBS=100 DURATION=20s RATE=500 WARMUP=3s
# REPLICAS="1 2 3" EMBEDDED=1 BUS=0 NATS_URL=nats://127.0.0.1:4222
# PG_ADMIN="host=127.0.0.1 port=5432 user=postgres dbname=postgres sslmode=disable"
# (a user that may create databases), VERSITYGW (the binary; default: the one
# the tests build in ~/.cache/vigil-test, else 'go install'), OUT (results
# directory, default /tmp/vigil-bench-results-DATE), BENCH_ARGS (more flags).
#
# It starts only what it stops: the S3 server it runs and the databases it
# creates (vigil_bench_*) are removed at the end.
set -euo pipefail

HUBS=${HUBS:-100} DURATION=${DURATION:-20s} RATE=${RATE:-500} WARMUP=${WARMUP:-3s}
REPLICAS=${REPLICAS:-"1 2 3"} EMBEDDED=${EMBEDDED:-1} BUS=${BUS:-0} BENCH_ARGS=${BENCH_ARGS:-}
NATS_URL=${NATS_URL:-nats://127.0.0.1:4222}
PG_ADMIN=${PG_ADMIN:-"host=127.0.0.1 port=5432 user=postgres dbname=postgres sslmode=disable"}
VGW_VERSION=v1.8.0
VERSITYGW=${VERSITYGW:-$HOME/.cache/vigil-test/versitygw-$VGW_VERSION/versitygw}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-${TMPDIR:-/tmp}/vigil-bench-results-$(date -u +%Y%m%dT%H%M%SZ)}

command -v psql >/dev/null || { echo "bench-scaled: psql is missing (apt-get install postgresql-client)" >&2; exit 1; }
psql "$PG_ADMIN" -qAtc 'SELECT 1' >/dev/null || { echo "bench-scaled: no PostgreSQL at PG_ADMIN=\"$PG_ADMIN\" (set PG_ADMIN to a user that may create databases)" >&2; exit 1; }
if [ ! -x "$VERSITYGW" ]; then
	echo "bench-scaled: building versitygw $VGW_VERSION (go install, a few minutes)…" >&2
	mkdir -p "$(dirname "$VERSITYGW")"
	(cd /tmp && GOBIN=$(dirname "$VERSITYGW") GOWORK=off GOFLAGS= go install -trimpath github.com/versity/versitygw/cmd/versitygw@$VGW_VERSION)
fi

mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/vigil-bench-scaled-XXXXXX)
VGW_PID=""
DBS=()
cleanup() {
	[ -n "$VGW_PID" ] && kill "$VGW_PID" 2>/dev/null && wait "$VGW_PID" 2>/dev/null || true
	for db in "${DBS[@]}"; do psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT

echo "building vigil…" >&2
(cd "$ROOT" && go build -o "$WORK/vigil" ./cmd/vigil)

# run NAME ARGS...: one bench, its output and the load before and after.
run() {
	local name=$1; shift
	local f="$OUT/$name.txt"
	{ echo "# vigil bench cloud --hubs $HUBS --duration $DURATION --rate $RATE --warmup $WARMUP $* $BENCH_ARGS"
	  echo "uptime_before: $(uptime)"; } >"$f"
	echo "== $name" >&2
	# shellcheck disable=SC2086
	"$WORK/vigil" bench cloud --hubs "$HUBS" --duration "$DURATION" --rate "$RATE" --warmup "$WARMUP" "$@" $BENCH_ARGS >>"$f" 2>"$OUT/$name.log"
	echo "uptime_after: $(uptime)" >>"$f"
	cat "$f"
}

if [ "$EMBEDDED" = 1 ]; then
	run embedded
fi

for n in $REPLICAS; do
	dir="$WORK/r$n"
	mkdir -p "$dir/s3/vigil" "$dir/data"
	# A fresh S3 server: versitygw's posix backend, a bucket is a directory;
	# --keep-alive as object stores at scale do (without it versitygw closes
	# the connection after every response, and each upload dials anew).
	ak="bench$RANDOM" sk=$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	ROOT_ACCESS_KEY=$ak ROOT_SECRET_KEY=$sk "$VERSITYGW" --port "127.0.0.1:$port" --region us-east-1 --quiet --keep-alive posix "$dir/s3" >"$OUT/versitygw-r$n.log" 2>&1 &
	VGW_PID=$!
	for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
	db="vigil_bench_$(date +%s)_$n"
	psql "$PG_ADMIN" -qc "CREATE DATABASE $db" >/dev/null
	DBS+=("$db")
	dsn=$(python3 -c 'import sys; print(sys.argv[1] + " dbname=" + sys.argv[2])' "$PG_ADMIN" "$db")
	printf '%s\n' "$dsn" >"$dir/pg.dsn"
	printf '%s\n' "$sk" >"$dir/s3.secret"
	chmod 600 "$dir/pg.dsn" "$dir/s3.secret"
	{
		echo "listen: 127.0.0.1:0"
		echo "data: data"
		echo "log_level: warn"
		echo "store: {driver: postgres, dsn_file: pg.dsn}"
		echo "blobs:"
		echo "  driver: s3"
		echo "  s3: {endpoint: \"127.0.0.1:$port\", secure: false, region: us-east-1, bucket: vigil, access_key: \"$ak\", secret_key_file: s3.secret}"
		if [ "$BUS" = 1 ]; then echo "bus: {driver: nats, url: \"$NATS_URL\"}"; fi
	} >"$dir/cloud.yaml"
	run "scaled-$n" --config "$dir/cloud.yaml" --replicas "$n"
	kill "$VGW_PID"; wait "$VGW_PID" 2>/dev/null || true; VGW_PID=""
done
echo "results in $OUT" >&2

#!/usr/bin/env bash
# run.sh CMD...: starts the test servers (MinIO, versitygw, SeaweedFS and
# the GCS emulator fake-gcs-server) on loopback with throwaway credentials
# and data directories, waits until each really serves (a signed S3 round
# trip, or a bucket made through the GCS JSON API: internal/testserver/ready),
# exports their endpoints for package internal/testserver, runs CMD, stops
# the servers by their process ids and exits with CMD's status.
#
# Binaries are taken from $COORD_BIN_DIR (default: <repo>/.bin, built by
# `make servers`). A missing binary is an error when CI=true; otherwise the
# server is left out and the tests that need it skip.
#
# Exported for each server NAME in MINIO, VERSITYGW, SEAWEEDFS:
#   COORD_TEST_<NAME>_ENDPOINT, _ACCESS_KEY, _SECRET_KEY, _REGION
# COORD_TEST_MINIO_BINARY (the static MinIO binary, for container tests),
# and COORD_TEST_GCS_ENDPOINT (http://127.0.0.1:PORT; STORAGE_EMULATOR_HOST
# is not exported: a test that wants it sets it).
#
# Knobs: COORD_SERVER_START_TIMEOUT (seconds per server, default 60).
set -euo pipefail

if [ "$#" -eq 0 ]; then
	echo "usage: $0 CMD [ARGS...]" >&2
	exit 2
fi

repo=$(cd "$(dirname "$0")/../.." && pwd)
bin_dir=${COORD_BIN_DIR:-$repo/.bin}
start_timeout=${COORD_SERVER_START_TIMEOUT:-60}
in_ci=false
case "${CI:-}" in true | TRUE | True | 1) in_ci=true ;; esac

work=$(mktemp -d "${TMPDIR:-/tmp}/coord-servers.XXXXXX")
pids=()
names=()
logs=()

log() { echo "run.sh: $*" >&2; }

show_logs() {
	local i
	for i in "${!logs[@]}"; do
		if [ -s "${logs[$i]}" ]; then
			echo "----- last lines of the ${names[$i]} log (${logs[$i]}) -----" >&2
			tail -n 40 "${logs[$i]}" >&2 || true
		fi
	done
}

cleanup() {
	local status=$?
	trap - EXIT INT TERM
	local pid
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	# Give each server up to 10 s to exit, then kill it.
	for pid in "${pids[@]}"; do
		local i=0
		while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 100 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		if kill -0 "$pid" 2>/dev/null; then
			kill -KILL "$pid" 2>/dev/null || true
		fi
		wait "$pid" 2>/dev/null || true
	done
	if [ "$status" -ne 0 ]; then
		show_logs
	fi
	rm -rf "$work"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# port_in_use PORT: true when something accepts connections on it.
port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port: sets free to a loopback port nobody listens on and that this
# script has not handed out yet. (Not run in a subshell, so that
# taken_ports remembers.)
taken_ports=" "
free=""
free_port() {
	local p tries=0
	while [ "$tries" -lt 200 ]; do
		p=$((20000 + RANDOM % 40000))
		tries=$((tries + 1))
		case "$taken_ports" in *" $p "*) continue ;; esac
		if ! port_in_use "$p"; then
			taken_ports="$taken_ports$p "
			free=$p
			return 0
		fi
	done
	log "no free loopback port found"
	return 1
}

# http_status PORT PATH: prints the HTTP status of GET PATH, or nothing.
http_status() {
	local line=""
	{
		exec 3<>"/dev/tcp/127.0.0.1/$1" &&
			printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' "$2" "$1" >&3 &&
			IFS= read -r -t 5 line <&3
	} 2>/dev/null || true
	exec 3>&- 2>/dev/null || true
	case "$line" in HTTP/*) echo "$line" | cut -d' ' -f2 ;; esac
}

# wait_ready NAME PID PORT PATH STATUSES: waits until GET PATH answers with
# one of STATUSES (space-separated), the process dies, or the timeout
# passes.
wait_ready() {
	local name=$1 pid=$2 port=$3 path=$4 ok=$5
	local deadline=$((SECONDS + start_timeout)) status
	while :; do
		if ! kill -0 "$pid" 2>/dev/null; then
			log "$name exited during startup"
			return 1
		fi
		status=$(http_status "$port" "$path")
		case " $ok " in *" $status "*)
			[ -n "$status" ] && return 0 ;;
		esac
		if [ "$SECONDS" -ge "$deadline" ]; then
			log "$name did not answer on 127.0.0.1:$port within ${start_timeout}s (last status: ${status:-none})"
			return 1
		fi
		sleep 0.2
	done
}

# ready NAME PID ARGS...: runs the readiness helper (a signed request that
# succeeds; see internal/testserver/ready) against a server started as PID.
ready_bin=""
ready() {
	local name=$1 pid=$2
	shift 2
	if [ -z "$ready_bin" ]; then
		ready_bin="$work/ready"
		(cd "$repo" && CGO_ENABLED=0 "${GO:-go}" build -o "$ready_bin" ./internal/testserver/ready) || {
			log "cannot build internal/testserver/ready"
			return 1
		}
	fi
	"$ready_bin" -pid "$pid" -timeout "${start_timeout}s" "$@" || {
		log "$name is not ready"
		return 1
	}
}

# find_bin NAME: prints the path of binary NAME, or fails.
find_bin() {
	if [ -x "$bin_dir/$1" ]; then
		echo "$bin_dir/$1"
		return 0
	fi
	return 1
}

missing() {
	if $in_ci; then
		log "$1 binary not found in $bin_dir (run 'make servers'); CI=true, so this is an error"
		exit 1
	fi
	log "$1 binary not found in $bin_dir (run 'make servers'); tests that need it will skip"
}

secret() { od -An -N12 -tx1 /dev/urandom | tr -d ' \n'; }

start_minio() {
	local exe port cport dir logf
	exe=$(find_bin minio) || { missing minio; return 0; }
	free_port
	port=$free
	free_port
	cport=$free
	dir="$work/minio-data"
	logf="$work/minio.log"
	mkdir -p "$dir"
	local user="coordtest" pass
	pass=$(secret)
	MINIO_ROOT_USER=$user MINIO_ROOT_PASSWORD=$pass \
		MINIO_BROWSER=off MINIO_UPDATE=off MINIO_CI_CD=1 \
		"$exe" server "$dir" --quiet --address "127.0.0.1:$port" --console-address "127.0.0.1:$cport" \
		</dev/null >"$logf" 2>&1 &
	pids+=("$!")
	names+=(minio)
	logs+=("$logf")
	local pid=$!
	wait_ready minio "$pid" "$port" /minio/health/ready "200"
	# Healthy is not ready: MinIO answers XMinioServerNotInitialized for a
	# while after /minio/health/ready says 200.
	ready minio "$pid" -endpoint "http://127.0.0.1:$port" -access "$user" -secret "$pass"
	export COORD_TEST_MINIO_ENDPOINT="http://127.0.0.1:$port"
	export COORD_TEST_MINIO_ACCESS_KEY=$user
	export COORD_TEST_MINIO_SECRET_KEY=$pass
	export COORD_TEST_MINIO_REGION=us-east-1
	export COORD_TEST_MINIO_BINARY=$exe
	log "minio ready at $COORD_TEST_MINIO_ENDPOINT"
}

start_versitygw() {
	local exe port dir logf
	exe=$(find_bin versitygw) || { missing versitygw; return 0; }
	free_port
	port=$free
	dir="$work/versitygw-data"
	logf="$work/versitygw.log"
	mkdir -p "$dir"
	local access="coordtest" secret_key
	secret_key=$(secret)
	"$exe" --access "$access" --secret "$secret_key" --region us-east-1 --quiet \
		--port "127.0.0.1:$port" posix "$dir" \
		</dev/null >"$logf" 2>&1 &
	pids+=("$!")
	names+=(versitygw)
	logs+=("$logf")
	ready versitygw "$!" -endpoint "http://127.0.0.1:$port" -access "$access" -secret "$secret_key"
	export COORD_TEST_VERSITYGW_ENDPOINT="http://127.0.0.1:$port"
	export COORD_TEST_VERSITYGW_ACCESS_KEY=$access
	export COORD_TEST_VERSITYGW_SECRET_KEY=$secret_key
	export COORD_TEST_VERSITYGW_REGION=us-east-1
	log "versitygw ready at $COORD_TEST_VERSITYGW_ENDPOINT"
}

# SeaweedFS: master, volume server, filer and S3 gateway in one process,
# each on its own loopback port (the gRPC ports are given, as their default
# of port+10000 may not exist), no telemetry, the Iceberg and Lance
# catalogs off. A bucket is a collection; master.toml (read from the
# working directory) grows one volume per collection instead of seven, so
# that the hundreds of buckets of the tests fit in -volume.max. A PUT to a
# missing bucket must fail (NoSuchBucket), as elsewhere: SeaweedFS creates
# the bucket for an admin identity unless -s3.autoCreateBucket=false.
start_seaweedfs() {
	local exe dir logf access="coordtest" secret_key
	exe=$(find_bin weed) || { missing weed; return 0; }
	local ports=() i
	for i in 1 2 3 4 5 6 7 8; do
		free_port
		ports+=("$free")
	done
	dir="$work/seaweedfs"
	logf="$work/seaweedfs.log"
	mkdir -p "$dir/data"
	secret_key=$(secret)
	cat >"$dir/s3.json" <<-EOF
		{"identities": [{"name": "coordtest",
		  "credentials": [{"accessKey": "$access", "secretKey": "$secret_key"}],
		  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
	EOF
	printf '[master.volume_growth]\ncopy_1 = 1\n' >"$dir/master.toml"
	(cd "$dir" && exec "$exe" server -dir "$dir/data" -ip 127.0.0.1 -ip.bind 127.0.0.1 \
		-master.port "${ports[0]}" -master.port.grpc "${ports[1]}" -master.telemetry=false \
		-master.volumeSizeLimitMB 64 -volume.max 1000 \
		-volume.port "${ports[2]}" -volume.port.grpc "${ports[3]}" \
		-filer -filer.port "${ports[4]}" -filer.port.grpc "${ports[5]}" \
		-s3 -s3.port "${ports[6]}" -s3.port.grpc "${ports[7]}" -s3.port.iceberg 0 -s3.port.lance 0 \
		-s3.config "$dir/s3.json" -s3.autoCreateBucket=false \
		</dev/null >"$logf" 2>&1) &
	pids+=("$!")
	names+=(seaweedfs)
	logs+=("$logf")
	ready seaweedfs "$!" -endpoint "http://127.0.0.1:${ports[6]}" -access "$access" -secret "$secret_key"
	export COORD_TEST_SEAWEEDFS_ENDPOINT="http://127.0.0.1:${ports[6]}"
	export COORD_TEST_SEAWEEDFS_ACCESS_KEY=$access
	export COORD_TEST_SEAWEEDFS_SECRET_KEY=$secret_key
	export COORD_TEST_SEAWEEDFS_REGION=us-east-1
	log "seaweedfs ready at $COORD_TEST_SEAWEEDFS_ENDPOINT"
}

# fake-gcs-server, the GCS emulator: in memory, plain HTTP, its external
# URL (the Location of resumable uploads) the loopback address it serves.
start_gcs() {
	local exe port logf
	exe=$(find_bin fake-gcs-server) || { missing fake-gcs-server; return 0; }
	free_port
	port=$free
	logf="$work/fake-gcs-server.log"
	"$exe" -backend memory -scheme http -host 127.0.0.1 -port "$port" \
		-external-url "http://127.0.0.1:$port" -public-host "127.0.0.1:$port" -log-level warn \
		</dev/null >"$logf" 2>&1 &
	pids+=("$!")
	names+=(fake-gcs-server)
	logs+=("$logf")
	ready fake-gcs-server "$!" -gcs -endpoint "http://127.0.0.1:$port"
	export COORD_TEST_GCS_ENDPOINT="http://127.0.0.1:$port"
	log "fake-gcs-server ready at $COORD_TEST_GCS_ENDPOINT"
}

start_minio
start_versitygw
start_seaweedfs
start_gcs

set +e
"$@"
rc=$?
set -e
exit "$rc"

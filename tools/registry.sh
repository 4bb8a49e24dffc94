#!/usr/bin/env bash
# A local image registry for tests and air-gapped nodes: Debian's docker-registry
# (distribution 2.x) on 127.0.0.1, plain HTTP (tug allows plain HTTP to loopback registries).
#
#   tools/registry.sh start [--dir DIR] [--port PORT]   idempotent; waits until it answers
#   tools/registry.sh stop  [--dir DIR]
#   tools/registry.sh status [--dir DIR]                exit 0 when running
#   tools/registry.sh url   [--dir DIR] [--port PORT]   prints http://127.0.0.1:PORT
#
# DIR (default $TUG_REGISTRY_DIR or /tmp/tug-registry) holds config.yml, the storage (data/),
# registry.pid, registry.log and the port in use. PORT defaults to $TUG_REGISTRY_PORT or 5000.
set -euo pipefail

cmd=${1:-}
[ -n "$cmd" ] && shift
DIR=${TUG_REGISTRY_DIR:-/tmp/tug-registry}
PORT=${TUG_REGISTRY_PORT:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) DIR=$2; shift 2 ;;
    --dir=*) DIR=${1#*=}; shift ;;
    --port) PORT=$2; shift 2 ;;
    --port=*) PORT=${1#*=}; shift ;;
    *) echo "registry.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done
if [ -z "$PORT" ]; then
  if [ -f "$DIR/port" ]; then PORT=$(cat "$DIR/port"); else PORT=5000; fi
fi
PIDFILE=$DIR/registry.pid

running() {
  [ -f "$PIDFILE" ] || return 1
  local pid
  pid=$(cat "$PIDFILE")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q docker-registry "/proc/$pid/cmdline" 2>/dev/null
}

answers() { curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$1/v2/" 2>/dev/null; }

case "$cmd" in
  start)
    if running; then
      echo "registry: already running (pid $(cat "$PIDFILE"), http://127.0.0.1:$(cat "$DIR/port"), dir $DIR)"
      exit 0
    fi
    BIN=${TUG_DOCKER_REGISTRY:-$(command -v docker-registry || true)}
    if [ -z "$BIN" ]; then
      echo "registry: docker-registry is not installed (apt-get install docker-registry)" >&2
      exit 1
    fi
    # Something else (another registry, another tool) already answers on this port: starting
    # ours would fail to bind while the other one made the wait below look successful.
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
      echo "registry: port $PORT on 127.0.0.1 is already in use by another process (use --port)" >&2
      exit 1
    fi
    mkdir -p "$DIR/data"
    cat >"$DIR/config.yml" <<CFG
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $DIR/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$PORT
CFG
    echo "$PORT" >"$DIR/port"
    # Its own session, so it outlives this script; stdin closed, output to the log.
    setsid "$BIN" serve "$DIR/config.yml" </dev/null >>"$DIR/registry.log" 2>&1 &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 200); do
      if answers "$PORT"; then
        echo "registry: started (pid $(cat "$PIDFILE"), http://127.0.0.1:$PORT, dir $DIR)"
        exit 0
      fi
      if ! running; then break; fi
      sleep 0.1
    done
    echo "registry: did not start on 127.0.0.1:$PORT; last log lines:" >&2
    tail -5 "$DIR/registry.log" >&2 || true
    if running; then kill "$(cat "$PIDFILE")" 2>/dev/null || true; fi
    rm -f "$PIDFILE"
    exit 1
    ;;
  stop)
    if ! running; then
      rm -f "$PIDFILE"
      echo "registry: not running"
      exit 0
    fi
    pid=$(cat "$PIDFILE")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$PIDFILE"
    echo "registry: stopped (pid $pid)"
    ;;
  status)
    if running; then
      echo "registry: running (pid $(cat "$PIDFILE"), http://127.0.0.1:$PORT, dir $DIR)"
      exit 0
    fi
    echo "registry: not running"
    exit 1
    ;;
  url)
    echo "http://127.0.0.1:$PORT"
    ;;
  *)
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    [ -z "$cmd" ] && exit 2
    [ "$cmd" = "-h" ] || [ "$cmd" = "--help" ] || exit 2
    ;;
esac

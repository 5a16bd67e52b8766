#!/usr/bin/env bash
# smoke_images.sh (make smoke-images): build both images, run the compose topology end to
# end with podman, stop it with work in flight, start it again, check nothing was lost,
# tear it down. Prints each step's time and the image sizes; exits non-zero on a failure.
# Needs root (rootful podman). On a machine without a registry it uses the local base
# images of ../shared/tools/container-env.sh; elsewhere set BASE_IMAGE (python:3.12-slim).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=${PY:-$ROOT/.venv/bin/python}
PROJECT=${SMOKE_PROJECT:-digits-smoke}
COMPOSE=(podman-compose -p "$PROJECT" -f docker-compose.yml -f deploy/local/compose.hostnet.yml)
WEB=http://127.0.0.1:8000
LOGS=${SMOKE_LOGS:-$ROOT/var/smoke}
mkdir -p "$LOGS"
STARTED=$(date +%s)
STEPS=()

log() { printf '[smoke %4ss] %s\n' "$(($(date +%s) - STARTED))" "$*"; }
fail() { log "FAILED: $*"; exit 1; }
# step NAME COMMAND...: run it, time it, keep its output in $LOGS, fail loudly.
step() {
  local name=$1 t0 rc=0; shift
  t0=$(date +%s%N)
  "$@" > "$LOGS/$name.log" 2>&1 || rc=$?
  local ms=$((($(date +%s%N) - t0) / 1000000)) took
  took=$((ms / 1000)).$((ms % 1000 / 100))
  STEPS+=("$(printf '%-28s %7s s  %s' "$name" "$took" "$(tail -n 1 "$LOGS/$name.log" | cut -c1-90)")")
  if [ "$rc" -ne 0 ]; then tail -n 30 "$LOGS/$name.log"; fail "$name (exit $rc, log $LOGS/$name.log)"; fi
  log "$name: ${took} s: $(tail -n 1 "$LOGS/$name.log" | cut -c1-110)"
}
client() { "$PY" scripts/smoke_client.py --base-url "$WEB" --admin-token "$ADMIN_TOKEN" "$@"; }
size_mb() { echo $(($(podman image inspect "$1" --format '{{.Size}}') / 1000000)); }

teardown() {
  local rc=$?
  log "tearing down (logs of every container in $LOGS/containers.log)"
  "${COMPOSE[@]}" logs > "$LOGS/containers.log" 2>&1 || true
  "${COMPOSE[@]}" down -v > "$LOGS/down.log" 2>&1 || true
  exit "$rc"
}

setup_podman() {
  # Debian's podman defaults to crun, which refuses cgroups v1/hybrid hosts: use runc there.
  if [ "$(stat -fc %T /sys/fs/cgroup)" != cgroup2fs ] && ! command -v runc > /dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq runc > /dev/null
  fi
  if [ "$(stat -fc %T /sys/fs/cgroup)" != cgroup2fs ]; then
    mkdir -p /etc/containers/containers.conf.d
    printf '[engine]\nruntime = "runc"\n' > /etc/containers/containers.conf.d/50-runc.conf
  fi
  if [ -f "$ROOT/../shared/tools/container-env.sh" ]; then
    bash "$ROOT/../shared/tools/container-env.sh"
  fi
  command -v podman > /dev/null && command -v podman-compose > /dev/null \
    || fail "podman and podman-compose are needed (see docs/deploy.md)"
}

build_images() {
  local mounts=""
  command -v pip-build-mounts > /dev/null && mounts=$(pip-build-mounts)
  # shellcheck disable=SC2086  # the mounts are separate words
  step build-light podman build $mounts --build-arg BASE="$BASE_IMAGE" --target light \
    -t localhost/digits:latest .
  # shellcheck disable=SC2086
  step build-trainer podman build $mounts --build-arg BASE="$BASE_IMAGE" --target trainer \
    -t localhost/digits-trainer:latest .
  # shellcheck disable=SC2086
  step build-standins "${COMPOSE[@]}" --podman-build-args="$mounts" build redis s3
}

check_images() {
  step light-has-no-tensorflow podman run --rm localhost/digits:latest python -c \
    'import importlib.util as u, sys; import scipy.ndimage, ai_edge_litert, PIL, babel; assert u.find_spec("tensorflow") is None, "TensorFlow in the light image"; print("no tensorflow")'
  step trainer-has-tensorflow podman run --rm localhost/digits-trainer:latest python -c \
    'import tensorflow as tf; print("tensorflow", tf.__version__)'
  step runs-as-non-root podman run --rm localhost/digits:latest sh -c \
    'test "$(id -u)" != 0 && echo "uid $(id -u)"'
}

ports_free() {
  local port
  for port in 8000 5555 6379 8333 9333; do
    ! (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null || { echo "port $port is taken"; return 1; }
  done
  echo "ports 8000 5555 6379 8333 9333 free"
}

# stop_all: every container of the project stops on SIGTERM within its grace period (exit
# 137 = killed). The S3 stand-in (SeaweedFS, not ours) is reported, not failed: its filer
# now and then waits past any grace period at shutdown.
stop_all() {
  "${COMPOSE[@]}" stop
  local bad=0 name code
  for name in $(podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}'); do
    code=$(podman inspect "$name" --format '{{.State.ExitCode}}')
    echo "$name exit $code"
    if [ "$code" = 137 ]; then
      case $name in *_s3_*) echo "note: $name (SeaweedFS) was killed after its grace period" ;; *) bad=1 ;; esac
    fi
  done
  [ "$bad" = 0 ] && echo "every Digits container stopped within its grace period"
  return $bad
}

main() {
  step setup setup_podman
  BASE_IMAGE=${BASE_IMAGE:-localhost/python:3.11-slim}
  podman image exists "$BASE_IMAGE" || BASE_IMAGE=python:3.12-slim
  export BASE_IMAGE
  ADMIN_TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  S3_SECRET_KEY=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  export ADMIN_TOKEN S3_SECRET_KEY
  build_images
  check_images
  step ports-free ports_free
  trap teardown EXIT
  step up "${COMPOSE[@]}" up -d
  step wait-healthy client wait-healthy --timeout 240 --workers worker,trainer
  step predict-digit client digit
  step predict-number client number
  step predict-not-a-digit client not-digit
  # 60 samples pass FINE_TUNE_EVERY (50): an automatic fine-tune starts; the admin's
  # waits for it (409 meanwhile).
  step collect-samples client collect 60
  step admin-fine-tune client fine-tune --timeout 900 --retry-409 900
  step metrics client metrics
  # Work in flight: a fine-tune running, samples and predictions still queued.
  step samples-before client count-samples
  step models-before client models
  step fine-tune-in-flight client fine-tune-start
  step collect-in-flight client collect 10 --no-wait
  step predictions-in-flight client flood 20
  step stop-all stop_all
  step up-again "${COMPOSE[@]}" up -d
  step wait-healthy-again client wait-healthy --timeout 240 --workers worker,trainer
  local before after
  before=$(tail -n 1 "$LOGS/samples-before.log")
  step samples-kept client wait-samples $((before + 10)) --timeout 120
  step models-kept client models
  # No version lost; the interrupted fine-tune may have been requeued and promoted one more.
  "$PY" -c 'import json, sys; a, b = map(json.loads, sys.argv[1:]); sys.exit(any(b.get(k, 0) < v for k, v in a.items()))' \
    "$(tail -n 1 "$LOGS/models-before.log")" "$(tail -n 1 "$LOGS/models-kept.log")" \
    || fail "a model version went back: $(tail -n 1 "$LOGS/models-kept.log")"
  step interrupted-job-ends client job-status "$(tail -n 1 "$LOGS/fine-tune-in-flight.log")" --wait-finished 300
  step fine-tune-after-restart client fine-tune --timeout 900 --retry-409 300
  step predict-after-restart client digit
  step stop-again stop_all
  echo
  echo "== smoke passed in $(($(date +%s) - STARTED)) s on $(date -u +%Y-%m-%d), base $BASE_IMAGE"
  printf '   %s\n' "${STEPS[@]}"
  echo "   image localhost/digits:latest          $(size_mb localhost/digits:latest) MB"
  echo "   image localhost/digits-trainer:latest  $(size_mb localhost/digits-trainer:latest) MB"
}

main "$@"

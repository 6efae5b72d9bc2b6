#!/usr/bin/env bash
# Serve policyqa from this folder (after ./install.sh) as `make run` does: the same environment
# (HF_HUB_OFFLINE=1, TRANSFORMERS_OFFLINE=1, every POLICYQA_* variable you set), the index brought
# up to date if the seeds or settings changed, then uvicorn on $HOST:$PORT. No network needed.
#
#   PORT=8000 ./run.sh          (defaults: HOST=127.0.0.1 PORT=8000 WORKERS=1)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROJECT="$HERE/project"
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
WORKERS="${WORKERS:-1}"

fail() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }

[ -x "$PROJECT/.venv/bin/uvicorn" ] || fail "policyqa is not installed in this folder yet: run ./install.sh first."
[[ "$PORT" =~ ^[0-9]+$ ]] && [ "$PORT" -ge 1 ] && [ "$PORT" -le 65535 ] || fail "PORT=$PORT is not a port number (1-65535)."
[[ "$WORKERS" =~ ^[1-9][0-9]*$ ]] || fail "WORKERS=$WORKERS is not a positive number."

export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
cd "$PROJECT"
.venv/bin/python -m index ensure
exec .venv/bin/uvicorn service.app:app --host "$HOST" --port "$PORT" --workers "$WORKERS"

#!/usr/bin/env bash
# Runs a command up to N times, waiting longer after each failure. Setup downloads ~600 MB of
# wheels (ResMem's alone is 489 MB); one interrupted connection must not fail a fresh install,
# and pip's own resume can stall at the same offset, while a restarted download goes through.
set -uo pipefail
attempts=$1
shift
for ((i = 1; i <= attempts; i++)); do
  "$@" && exit 0
  status=$?
  if ((i < attempts)); then
    echo "retry.sh: attempt $i of $attempts failed (exit $status): $*; retrying in $((i * 15)) s" >&2
    sleep $((i * 15))
  fi
done
echo "retry.sh: giving up after $attempts attempts: $*" >&2
exit "$status"

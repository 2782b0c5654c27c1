#!/usr/bin/env bash
# tools/run-demo.sh : `make run`. Starts three demo backends on 127.0.0.1
# (9001, 9002: "web"; 9003: "api") and ALB on examples/demo/alb.json, prints
# what to curl, and stops everything it started on Ctrl-C or when ALB exits.
set -u
cd "$(dirname "$0")/.."
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
}
trap cleanup EXIT INT TERM

/usr/bin/python3 tests/integration/backend.py 9001 web-1 & pids+=($!)
/usr/bin/python3 tests/integration/backend.py 9002 web-2 & pids+=($!)
/usr/bin/python3 tests/integration/backend.py 9003 api & pids+=($!)

cat <<'MSG'

ALB demo: listening on http://127.0.0.1:8080 (config: examples/demo/alb.json)
  curl -i http://127.0.0.1:8080/                      # round robin over web-1 and web-2
  curl -i http://127.0.0.1:8080/api/users             # the "api" backend
  curl -i -H 'Host: api.example.com' http://127.0.0.1:8080/x
  curl -s http://127.0.0.1:8080/echo | python3 -m json.tool   # what the backend saw
  curl -s http://127.0.0.1:10254/config                # the serving config; edit examples/demo/alb.json and see it change
Press Ctrl-C to stop.

MSG
build/alb serve --config examples/demo/alb.json &
alb_pid=$!
pids+=($alb_pid)
wait "$alb_pid"

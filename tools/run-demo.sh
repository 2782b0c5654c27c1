#!/usr/bin/env bash
# tools/run-demo.sh : `make run`. Starts the quickstart's two demo backends
# on 127.0.0.1 (tea: 9001, coffee: 9002) and ALB in standalone mode on
# examples/quickstart, prints what to curl, and stops everything it started
# on Ctrl-C or when ALB exits.
set -u
cd "$(dirname "$0")/.."
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
}
trap cleanup EXIT INT TERM

/usr/bin/python3 tests/integration/backend.py 9001 tea & pids+=($!)
/usr/bin/python3 tests/integration/backend.py 9002 coffee & pids+=($!)

cat <<'MSG'

ALB standalone demo: the manifests in examples/quickstart/, served on http://127.0.0.1:8080
  curl -i -H 'Host: cafe.example.com' http://127.0.0.1:8080/tea      # Service tea
  curl -i -H 'Host: cafe.example.com' http://127.0.0.1:8080/coffee   # Service coffee
  curl -i http://127.0.0.1:8080/anything                             # the Ingress's defaultBackend
  curl -s http://127.0.0.1:10254/config                              # what ALB made of the manifests
Edit examples/quickstart/ingress.yaml while this runs: routing follows within a second.
Press Ctrl-C to stop.

MSG
build/alb serve --manifests examples/quickstart --listen-address 127.0.0.1 &
alb_pid=$!
pids+=($alb_pid)
wait "$alb_pid"

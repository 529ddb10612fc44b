#!/bin/sh
# Serve /www on 127.0.0.1:${PORT:-8080}. httpd's stderr (its own request log, and the
# CGI scripts' log lines) is sent to stdout, so every request logs one line on stdout.
mkdir -p /tmp/metrics
read -r version < /etc/app-version
echo "web ${version} listening on 127.0.0.1:${PORT:-8080}"
# httpd as PID 1 would ignore SIGTERM and make `docker stop` wait 10 s: stay PID 1 and
# forward the signal.
trap 'kill "$httpd_pid" 2>/dev/null; wait "$httpd_pid"; exit 0' TERM INT
httpd -f -v -p "127.0.0.1:${PORT:-8080}" -h /www 2>&1 &
httpd_pid=$!
wait "$httpd_pid"

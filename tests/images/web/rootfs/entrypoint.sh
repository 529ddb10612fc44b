#!/bin/sh
# Serve /www on 127.0.0.1:${PORT:-8080}. httpd's stderr (its own request log, and the
# CGI scripts' log lines) is sent to stdout, so every request logs one line on stdout.
#
# Extras for the release tests, each off unless its variable is set:
#   PORT=auto      try ports from PORT_BASE (20000) up until httpd binds one, so copies of
#                  the service can run side by side on the host network.
#   SD_DIR=DIR     register with Prometheus: DIR/<port>.json is a file_sd target group
#                  with labels workload=$WORKLOAD and version=<this image's version>,
#                  removed again on SIGTERM (docker stop).
#   TRAFFIC_RPS=N  request /cgi-bin/work about N times a second, so the metrics move.
# The chosen port is written to /tmp/port, where the health check reads it.
mkdir -p /tmp/metrics
read -r version < /etc/app-version
httpd_pid='' traffic_pid='' sd_file=''
# httpd as PID 1 would ignore SIGTERM and make `docker stop` wait 10 s: stay PID 1 and
# forward the signal.
trap '[ -n "$sd_file" ] && rm -f "$sd_file"; [ -n "$traffic_pid" ] && kill "$traffic_pid" 2>/dev/null
      kill "$httpd_pid" 2>/dev/null; wait "$httpd_pid"; exit 0' TERM INT

# listening PID PORT: whether process PID has a socket listening on 127.0.0.1:PORT. Another
# process answering on that port does not count, so /proc is read rather than the port probed.
listening() {
    inodes=$(ls -l "/proc/$1/fd" 2>/dev/null | sed -n 's/.*socket:\[\([0-9]*\)\].*/\1/p')
    [ -n "$inodes" ] || return 1
    awk -v port="$(printf '0100007F:%04X' "$2")" -v inodes=" $(echo $inodes) " '
        $2 == port && $4 == "0A" && index(inodes, " " $10 " ") { found = 1 }
        END { exit !found }' /proc/net/tcp
}

# exited PID: a child that died stays a zombie until waited for, and `kill -0` still finds it.
exited() {
    stat=''
    read -r stat 2>/dev/null < "/proc/$1/stat" || return 0
    set -- $stat
    [ "$3" = Z ] || [ "$3" = X ]
}

serve() {
    httpd -f -v -p "127.0.0.1:$1" -h /www 2>&1 &
    httpd_pid=$!
}

if [ "${PORT:-8080}" = auto ]; then
    port=${PORT_BASE:-20000}
    while :; do
        serve "$port"
        # httpd binds first thing and exits when it cannot: alive after 5 s means bound.
        tries=0
        until listening "$httpd_pid" "$port" || exited "$httpd_pid" || [ "$tries" -ge 500 ]; do
            tries=$((tries + 1))
            usleep 10000
        done
        exited "$httpd_pid" || break
        wait "$httpd_pid"
        port=$((port + 1))
    done
else
    port=${PORT:-8080}
    serve "$port"
fi
echo "$port" > /tmp/port
echo "web ${version} listening on 127.0.0.1:${port}"

if [ -n "${SD_DIR:-}" ]; then
    sd_file="$SD_DIR/$port.json"
    # Written beside the watched *.json pattern, then renamed in: Prometheus never reads half a file.
    printf '[{"targets":["127.0.0.1:%s"],"labels":{"workload":"%s","version":"%s","__metrics_path__":"/cgi-bin/metrics"}}]\n' \
        "$port" "${WORKLOAD:-web}" "$version" > "$sd_file.partial"
    mv "$sd_file.partial" "$sd_file"
fi

rps=${TRAFFIC_RPS:-0}
case "$rps" in ''|*[!0-9]*) rps=0 ;; esac
if [ "$rps" -gt 0 ]; then
    while :; do
        wget -q -O /dev/null "http://127.0.0.1:${port}/cgi-bin/work" 2>/dev/null
        usleep $((1000000 / rps))
    done &
    traffic_pid=$!
fi
wait "$httpd_pid"

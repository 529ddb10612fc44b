# shellcheck shell=sh
# Shared by the CGI scripts (sourced). Counters are files under /tmp/metrics; httpd runs
# one process per request, so updates are guarded by a mkdir lock (mkdir is atomic).
METRICS_DIR=/tmp/metrics
# Histogram bucket bounds as "milliseconds:seconds-label".
# shellcheck disable=SC2034 # used by the scripts that source this file
BUCKETS="5:0.005 10:0.01 25:0.025 50:0.05 100:0.1 250:0.25 500:0.5 1000:1 2500:2.5 5000:5 10000:10"

metrics_lock() {
    mkdir -p "$METRICS_DIR"
    tries=0
    until mkdir "$METRICS_DIR/.lock" 2>/dev/null; do
        tries=$((tries + 1))
        # A request killed inside the critical section leaves the lock behind: break it after ~2 s.
        if [ "$tries" -ge 2000 ]; then rmdir "$METRICS_DIR/.lock" 2>/dev/null; tries=0; fi
        usleep 1000
    done
}

metrics_unlock() {
    rmdir "$METRICS_DIR/.lock"
}

counter_get() {
    value=0
    [ -f "$METRICS_DIR/$1" ] && read -r value < "$METRICS_DIR/$1"
    echo "${value:-0}"
}

counter_add() {
    echo $(( $(counter_get "$1") + $2 )) > "$METRICS_DIR/$1"
}

uptime_ms() {
    awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime
}

# log_request CODE: one line per request on httpd's stderr, which the entrypoint sends to stdout.
log_request() {
    echo "${REMOTE_ADDR}:${REMOTE_PORT}: response:$1 ${REQUEST_METHOD} ${REQUEST_URI}" >&2
}

# respond CODE REASON BODY
respond() {
    if [ "$1" != 200 ]; then printf 'Status: %s %s\r\n' "$1" "$2"; fi
    printf 'Content-Type: text/plain\r\n\r\n%s\n' "$3"
    log_request "$1"
}

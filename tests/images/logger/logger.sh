#!/bin/sh
# Writes "line <n> <TEXT>" to stdout, n counting from 1, and every STDERR_EVERY-th line
# (default 10, 0 = never) to stderr instead.
#   RATE   lines per second (default 10); 0 = as fast as possible
#   COUNT  stop after that many lines and then idle (default 0 = never stop)
#   TEXT   the text after the number (default "hello from logger")
RATE=${RATE:-10}
COUNT=${COUNT:-0}
STDERR_EVERY=${STDERR_EVERY:-10}
TEXT=${TEXT:-hello from logger}

# As PID 1 a shell ignores SIGTERM unless it traps it, and `docker stop` would wait 10 s.
trap 'exit 0' TERM INT

if [ "$RATE" -gt 0 ]; then
    # One pause per batch of lines: up to 100 lines/s every line is paced on its own (so
    # `docker logs` keeps stdout and stderr lines in order), above that lines come in
    # batches every ~10 ms. The pause ignores the time spent writing: the rate is a ceiling.
    batch=$(( (RATE + 99) / 100 ))
    pause=$(awk -v b="$batch" -v r="$RATE" 'BEGIN { printf "%.3f", b / r }')
else
    batch=1000
    pause=0
fi

n=0
while [ "$COUNT" -eq 0 ] || [ "$n" -lt "$COUNT" ]; do
    i=0
    while [ "$i" -lt "$batch" ]; do
        if [ "$COUNT" -gt 0 ] && [ "$n" -ge "$COUNT" ]; then break; fi
        n=$((n + 1))
        i=$((i + 1))
        if [ "$STDERR_EVERY" -gt 0 ] && [ $((n % STDERR_EVERY)) -eq 0 ]; then
            echo "line $n $TEXT" >&2
        else
            echo "line $n $TEXT"
        fi
    done
    if [ "$pause" != 0 ]; then sleep "$pause"; fi
done

# Done: idle until stopped (`wait` lets the TERM trap run at once).
while :; do
    sleep 3600 &
    wait $!
done

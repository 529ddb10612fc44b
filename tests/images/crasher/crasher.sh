#!/bin/sh
# Crashes on purpose:
#   EXIT_CODE  exit status (default 3)
#   MESSAGE    text after "fatal: " (default "simulated crash")
#   DELAY      seconds to stay up before crashing (default 0)
echo "starting" >&2
if [ "${DELAY:-0}" != 0 ]; then sleep "$DELAY"; fi
echo "fatal: ${MESSAGE:-simulated crash}" >&2
exit "${EXIT_CODE:-3}"

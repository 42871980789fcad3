#!/usr/bin/env bash
# run.sh CMD...: runs CMD. (Starting the test servers is added with the
# real-server drivers.)
set -euo pipefail
exec "$@"

#!/bin/sh
# Redis + N Starling pods + HAProxy (PROXY v2, /readyz checks) on loopback, until Ctrl-C.
# The work is done by `starling local-cluster` (src/cli/local-cluster.ts); see the README.
# Usage: deploy/local-cluster/start.sh [--pods N] [--base-port P] [--keep-logs]
set -eu
root="$(cd "$(dirname "$0")/../.." && pwd)"
[ -f "$root/dist/cli/index.js" ] || (cd "$root" && npm run build)
exec node "$root/bin/starling.js" local-cluster "$@"

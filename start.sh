#!/usr/bin/env bash
# Quick start on a fresh Debian machine with Node.js 20, as root: installs what is missing,
# builds, and runs the kontena-ipam plugin on /run/docker/plugins/kontena-ipam.sock.
#
#   ./start.sh                                      # single-host mode: an embedded etcd (unix socket) in ./.state
#   ETCD_ENDPOINT=http://10.0.0.1:2379 ./start.sh   # cluster mode: your etcd cluster
#
# Arguments go to the kontena-ipam command (./start.sh --help). Stop it with Ctrl-C (SIGINT)
# or SIGTERM: it removes its socket and stops the local etcd it started.
set -euo pipefail
cd "$(dirname "$0")"

# shellcheck source=.ci/install
. .ci/install
if [ -n "${ETCD_ENDPOINT:-}" ]; then
  ensure_prereqs run no-etcd
else
  ensure_prereqs run etcd
fi

step "pnpm install --frozen-lockfile"
pnpm install --frozen-lockfile --reporter=append-only

step "pnpm build"
pnpm build --output-logs=errors-only

# Without ETCD_ENDPOINT this script asks for single-host mode (kontena-ipam itself never
# assumes it: a host that quietly runs a private etcd can split a cluster). The embedded etcd
# keeps its data here, so pools survive a restart.
if [ -z "${ETCD_ENDPOINT:-}" ]; then
  export KONTENA_IPAM_LOCAL_ETCD="${KONTENA_IPAM_LOCAL_ETCD:-on}"
fi
export KONTENA_IPAM_STATE_DIR="${KONTENA_IPAM_STATE_DIR:-$PWD/.state}"

step "kontena-ipam $*"
exec node packages/app/dist/bin/kontena-ipam.js "$@"

#!/usr/bin/env bash
# Builds docker/plugin/build/{config.json,rootfs/} from the kontena-ipam image and creates the
# managed plugin, so that Docker itself starts kontena-ipam before any container at boot
# (as an ordinary container it stalled Docker's start: kontena/kontena#1270).
#
#   docker/plugin/build-rootfs.sh                      # image kontena-ipam → plugin kontena-ipam
#   PLUGIN=kontena/ipam:0.1.0 docker/plugin/build-rootfs.sh
#   docker plugin set kontena-ipam ETCD_ENDPOINT=http://10.0.0.1:2379 NODE_ID="$(hostname)"
#   docker plugin enable kontena-ipam
#   docker network create --ipam-driver kontena-ipam:latest --ipam-opt network=kontena0 kontena0
#
# Environment: IMAGE (default kontena-ipam; built from docker/Dockerfile unless SKIP_BUILD=1),
# PLUGIN (plugin name, default kontena-ipam), OUT (default docker/plugin/build),
# CERTS_DIR (optional folder of etcd TLS files, copied to /etc/kontena-ipam in the rootfs),
# CREATE=0 to stop after writing OUT.
set -euo pipefail
cd "$(dirname "$0")/../.."

IMAGE="${IMAGE:-kontena-ipam}"
PLUGIN="${PLUGIN:-kontena-ipam}"
OUT="${OUT:-docker/plugin/build}"

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  docker build -t "$IMAGE" -f docker/Dockerfile .
fi

rm -rf "$OUT"
mkdir -p "$OUT/rootfs"
container="$(docker create "$IMAGE" true)"
trap 'docker rm -f "$container" >/dev/null 2>&1 || true' EXIT
docker export "$container" | tar -x -C "$OUT/rootfs"
cp docker/plugin/config.json "$OUT/config.json"
if [ -n "${CERTS_DIR:-}" ]; then
  mkdir -p "$OUT/rootfs/etc/kontena-ipam"
  cp -R "$CERTS_DIR"/. "$OUT/rootfs/etc/kontena-ipam/"
fi
echo "wrote $OUT (config.json + rootfs from image $IMAGE)"

if [ "${CREATE:-1}" = 1 ]; then
  if docker plugin inspect "$PLUGIN" >/dev/null 2>&1; then
    echo "plugin $PLUGIN exists: remove it first (docker plugin disable $PLUGIN && docker plugin rm $PLUGIN)" >&2
    exit 1
  fi
  docker plugin create "$PLUGIN" "$OUT"
  # Docker 20.10 looks a managed IPAM driver up by its full name: add the tag.
  case "$PLUGIN" in *:*) ;; *) PLUGIN="$PLUGIN:latest" ;; esac
  cat <<NEXT
created plugin $PLUGIN. Next:
  docker plugin set $PLUGIN ETCD_ENDPOINT=http://127.0.0.1:2379 NODE_ID=\$(hostname)
  docker plugin enable $PLUGIN
  docker network create --ipam-driver $PLUGIN --ipam-opt network=kontena0 kontena0
NEXT
fi

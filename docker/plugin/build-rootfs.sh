#!/usr/bin/env bash
# Builds docker/plugin/build/{config.json,rootfs/} from the kontena-ipam image and creates the
# managed plugin, so that Docker itself starts kontena-ipam before any container at boot
# (as an ordinary container it stalled Docker's start: kontena/kontena#1270).
#
#   docker/plugin/build-rootfs.sh                      # image kontena-ipam → plugin kontena-ipam
#   PLUGIN=kontena/ipam:0.1.0 docker/plugin/build-rootfs.sh
#   docker plugin set kontena-ipam:latest ETCD_ENDPOINT=http://10.0.0.1:2379 NODE_ID="$(hostname)"
#   docker plugin set kontena-ipam:latest certs.source=/etc/etcd-certs   # TLS files, if any
#   docker plugin enable kontena-ipam:latest
#   docker network create --ipam-driver kontena-ipam:latest --ipam-opt network=kontena0 kontena0
#
# Environment: FROM (where the rootfs comes from: `image`, the default, exports IMAGE;
# `workspace` needs no image registry: `pnpm deploy --prod` of the built app plus this machine's
# node binary and the libraries it links, which is how the end-to-end test builds it),
# IMAGE (default kontena-ipam; built from docker/Dockerfile unless SKIP_BUILD=1),
# PLUGIN (plugin name, default kontena-ipam), OUT (default docker/plugin/build),
# CREATE=0 to stop after writing OUT. TLS files and the etcd password are not baked into the
# rootfs (anyone with the plugin could read them): the plugin's `certs` mount binds a host
# folder at /etc/kontena-ipam (`docker plugin set ... certs.source=/path`).
set -euo pipefail
cd "$(dirname "$0")/../.."

IMAGE="${IMAGE:-kontena-ipam}"
PLUGIN="${PLUGIN:-kontena-ipam}"
OUT="${OUT:-docker/plugin/build}"

FROM="${FROM:-image}"
if [ -n "${CERTS_DIR:-}" ]; then
  echo "CERTS_DIR is gone: TLS files are no longer copied into the rootfs; after create, run" >&2
  echo "  docker plugin set <plugin> certs.source=$CERTS_DIR" >&2
  exit 2
fi

# rootfs_from_image: the image's filesystem, as `docker export` of a container gives it.
rootfs_from_image() {
  if [ "${SKIP_BUILD:-0}" != 1 ]; then
    docker build -t "$IMAGE" -f docker/Dockerfile .
  fi
  container="$(docker create "$IMAGE" true)"
  trap 'docker rm -f "$container" >/dev/null 2>&1 || true' EXIT
  docker export "$container" | tar -x -C "$OUT/rootfs"
}

# rootfs_from_workspace: the app as the Dockerfile deploys it (run `pnpm build` first), with
# node on PATH as in the image. `deploy --legacy` resolves the app's dependency ranges again,
# so it reads package metadata from the registry; `--offline` would fail on a machine whose
# pnpm metadata cache is empty (`pnpm install --frozen-lockfile` never fills it).
rootfs_from_workspace() {
  pnpm --filter @kontena-ipam/app deploy --prod --legacy --prefer-offline \
    --reporter=append-only "$OUT/rootfs/app" >/dev/null
  local node file
  node="$(command -v node)"
  node="$(readlink -f "$node")"
  for file in "$node" $(ldd "$node" | grep -o '/[^ ]*' | sort -u); do
    mkdir -p "$OUT/rootfs$(dirname "$file")"
    cp -L "$file" "$OUT/rootfs$file"
  done
  mkdir -p "$OUT/rootfs/usr/bin"
  [ -e "$OUT/rootfs/usr/bin/node" ] || ln -s "$node" "$OUT/rootfs/usr/bin/node"
  mkdir -p "$OUT/rootfs"/{etc,tmp,proc,sys,dev,run/docker/plugins}
}

rm -rf "$OUT"
mkdir -p "$OUT/rootfs"
case "$FROM" in
  image) rootfs_from_image ;;
  workspace) rootfs_from_workspace ;;
  *) echo "FROM must be image or workspace, not '$FROM'" >&2; exit 2 ;;
esac
cp docker/plugin/config.json "$OUT/config.json"
# The certs mount's destination (the image has no such folder).
mkdir -p "$OUT/rootfs/etc/kontena-ipam"
echo "wrote $OUT (config.json + rootfs from the $FROM)"

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
  docker plugin set $PLUGIN certs.source=/etc/etcd-certs   # only for https:// endpoints
  docker plugin enable $PLUGIN
  docker network create --ipam-driver $PLUGIN --ipam-opt network=kontena0 kontena0
NEXT
fi

#!/bin/sh
# Builds every start-time variant of the probe into OUT (default /tmp/kontena-ipam-start-probe):
# the trivial client in C (glibc dynamic and static, musl static), Go, Node (plain, startup
# snapshot, single executable with code cache or snapshot), Bun (run and --compile) and Deno
# (run; `deno compile` downloads its runtime from dl.deno.land, unreachable here), plus the
# project's own CNI client as install-cni installs it, bundled, and the native client (packages/cni/native).
# Needs: pnpm build done, gcc; musl-gcc and go when present. Bun, Deno and postject come from
# npm into OUT (their binaries ship inside registry packages).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
OUT=${1:-/tmp/kontena-ipam-start-probe}
mkdir -p "$OUT"
[ -x "$OUT/node_modules/.bin/bun" ] || npm i --prefix "$OUT" --no-save bun@1.4.5 deno@2.9.6 postject@1.0.0-alpha.6 >/dev/null
gcc -O2 -o "$OUT/client-c" "$HERE/client.c"
gcc -O2 -static -o "$OUT/client-c-static" "$HERE/client.c"
if command -v musl-gcc >/dev/null; then musl-gcc -O2 -static -s -o "$OUT/client-c-musl" "$HERE/client.c"; fi
if command -v go >/dev/null; then
  (cd "$HERE" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$OUT/client-go" client.go)
  (cd "$REPO/packages/cni/native" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$OUT/client-go-real" .)
fi
cp "$HERE/client.cjs" "$HERE/client.mjs" "$HERE/server.mjs" "$OUT/"
node --snapshot-blob "$OUT/snap.blob" --build-snapshot "$HERE/snapshot-entry.cjs"
for kind in code-cache snapshot; do
  if [ $kind = snapshot ]; then main="$HERE/snapshot-entry.cjs"; flag='"useSnapshot": true'; else main="$HERE/client.cjs"; flag='"useCodeCache": true'; fi
  printf '{ "main": "%s", "output": "%s/sea-%s.blob", "disableExperimentalSEAWarning": true, %s }\n' "$main" "$OUT" $kind "$flag" > "$OUT/sea-$kind.json"
  node --experimental-sea-config "$OUT/sea-$kind.json" >/dev/null
  cp "$(command -v node)" "$OUT/client-sea-$kind"
  "$OUT/node_modules/.bin/postject" "$OUT/client-sea-$kind" NODE_SEA_BLOB "$OUT/sea-$kind.blob" \
    --sentinel-fuse NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2 >/dev/null
done
"$OUT/node_modules/.bin/bun" build --compile "$HERE/client.mjs" --outfile "$OUT/client-bun" >/dev/null
"$OUT/node_modules/.bin/bun" build --compile --minify --bytecode "$HERE/client.mjs" --outfile "$OUT/client-bun-bc" >/dev/null
node "$REPO/packages/app/dist/bin/kontena-ipam.js" install-cni --node-client "$OUT/cni-bin" >/dev/null
ESBUILD=$(ls -d "$REPO"/node_modules/.pnpm/esbuild@*/node_modules/esbuild/bin/esbuild | head -1)
"$ESBUILD" "$REPO/packages/app/dist/bin/kontena-ipam-cni.js" --bundle --platform=node --format=esm \
  --outfile="$OUT/cni-bundle.mjs" --log-level=warning
ls -la "$OUT" | grep -E 'client|snap|cni-bundle'

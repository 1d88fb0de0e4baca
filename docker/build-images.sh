#!/usr/bin/env bash
# Builds the RideShare images with nothing pulled from a registry (the default), or from the
# official node image where a registry is reachable:
#
#   bash docker/build-images.sh [--tag TAG] [--name NAME] [--base host|registry] [--force]
#
#   --base host      (default) NAME-node:TAG is assembled from this host's node binary and the
#                    shared libraries it and the project's native addons link (docker import), and
#                    NAME:TAG is docker/Dockerfile on top of it, with the node_modules installed
#                    here (better-sqlite3 built on this host), pruned of dev dependencies.
#   --base registry  NAME:TAG is docker/Dockerfile.node: FROM node:20-slim, npm ci inside.
#
# An image whose sources (src, package files, lock, Dockerfile, base) are unchanged is kept as it
# is, so running this before every test run costs a fraction of a second; --force rebuilds.
# Both give the same layout (/app, `node --import tsx <entry>`, and dist/ compiled here, whose
# one-file worker bundle the docker worker runtime runs with plain node), so compose files, the
# docker worker runtime and the docs do not care which one built the image. Run from anywhere; needs
# a Docker engine, and for --base host a prior `npm ci` and an x86_64/arm64 Linux host.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tag=latest
name=rideshare
base=host
force=false
while (($#)); do
  case $1 in
    --tag) tag=$2; shift 2 ;;
    --name) name=$2; shift 2 ;;
    --base) base=$2; shift 2 ;;
    --force) force=true; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ $base == host || $base == registry ]] || { echo "--base must be host or registry" >&2; exit 2; }

# The legacy builder: it needs no buildx/BuildKit (not packaged in Debian 12) and never pulls a
# FROM image that is already present.
export DOCKER_BUILDKIT=0
docker version --format '{{.Server.Version}}' >/dev/null || { echo "no Docker engine answers" >&2; exit 1; }

# Runs a command with its output kept back unless it fails (npm and the legacy builder are chatty).
quietly() {
  local out
  if ! out=$("$@" 2>&1); then
    printf '%s\n' "$out" >&2
    return 1
  fi
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Only what the program needs goes into the build context: no data, logs, tests or .git.
context=$work/context
mkdir -p "$context/docker"
cp -a "$root/package.json" "$root/package-lock.json" "$root/tsconfig.json" "$root/src" "$context/"
# The compiled tree (npm run build), for the worker containers' one-file bundle.
quietly node "$root/scripts/build.mjs"
cp -a "$root/dist" "$context/"
cp -a "$root/docker/standin-server.mjs" "$context/docker/"

build_base_image() {
  local image=$1 rootfs=$work/rootfs node_bin
  node_bin=$(readlink -f "$(command -v node)")
  mkdir -p "$rootfs/usr/bin" "$rootfs/etc" "$rootfs/tmp" "$rootfs/app"
  chmod 1777 "$rootfs/tmp"
  cp -L "$node_bin" "$rootfs/usr/bin/node"
  # Every library the loader would map for node and for the addons, at the path it would look
  # for it (the /lib64 loader included); -L turns symlinks into the files they name.
  local libs
  libs=$( { ldd "$node_bin"; find "$root/node_modules" -name '*.node' -path '*/Release/*' -exec ldd {} \; 2>/dev/null; } |
    awk '/=> \// {print $3} /^\s*\/[^ ]+ \(/ {print $1}' | sort -u)
  local lib
  for lib in $libs; do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done
  printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nnode:x:1000:1000::/app:/usr/sbin/nologin\n' > "$rootfs/etc/passwd"
  printf 'root:x:0:\nnode:x:1000:\n' > "$rootfs/etc/group"
  printf 'hosts: files dns\n' > "$rootfs/etc/nsswitch.conf"
  # Same node binary and libraries → same fingerprint → the existing base is kept, so the project
  # image's layers stay cached between builds.
  local fingerprint
  fingerprint=$( (cd "$rootfs" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16)
  if [[ $(docker image inspect -f '{{index .Config.Labels "rideshare.fingerprint"}}' "$image" 2>/dev/null || true) == "$fingerprint" ]]; then
    echo "base image $image is up to date ($("$node_bin" --version), fingerprint $fingerprint)"
    return
  fi
  tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    --change "LABEL rideshare.fingerprint=$fingerprint rideshare.node=$("$node_bin" --version)" \
    --change 'WORKDIR /app' \
    --change 'CMD ["/usr/bin/node"]' \
    - "$image" >/dev/null
  echo "built base image $image from $node_bin ($("$node_bin" --version)) and $(wc -w <<<"$libs") libraries"
}

previous=$(docker image inspect -f '{{.Id}}' "$name:$tag" 2>/dev/null || true)
# What the image is made of; the installed tree is summed up by npm's own node_modules/.package-lock.json.
sources() {
  (cd "$root" && find src package.json package-lock.json tsconfig.json tsconfig.build.json scripts/build.mjs scripts/copy-assets.mjs docker node_modules/.package-lock.json -type f -print0 2>/dev/null |
    sort -z | xargs -0 sha256sum)
  echo "base=$base ${1:-}"
}
up_to_date() {
  [[ $force == false && -n $previous &&
    $(docker image inspect -f '{{index .Config.Labels "rideshare.sources"}}' "$name:$tag" 2>/dev/null) == "$1" ]]
}

if [[ $base == host ]]; then
  [[ -d $root/node_modules ]] || { echo "run npm ci first: the host's node_modules go into the image" >&2; exit 1; }
  build_base_image "$name-node:$tag"
  fingerprint=$(sources "$(docker image inspect -f '{{.Id}}' "$name-node:$tag")" | sha256sum | cut -c1-16)
  if up_to_date "$fingerprint"; then
    echo "image $name:$tag is up to date (sources $fingerprint)"
    exit 0
  fi
  cp -a "$root/node_modules" "$context/"
  (cd "$context" && quietly npm prune --omit=dev --offline --ignore-scripts --no-audit --no-fund)
  quietly docker build -f "$root/docker/Dockerfile" --build-arg "BASE=$name-node:$tag" \
    --label "rideshare.sources=$fingerprint" -t "$name:$tag" "$context"
else
  # The registry's node:20-slim may move, so these builds are never skipped.
  quietly docker build -f "$root/docker/Dockerfile.node" -t "$name:$tag" "$context"
fi

# A rebuild leaves the previous image untagged; drop it unless a container still uses it.
if [[ -n $previous && $previous != "$(docker image inspect -f '{{.Id}}' "$name:$tag")" ]]; then
  docker image rm "$previous" >/dev/null 2>&1 || true
fi

# The image must load the native SQLite addon and the TypeScript loader, and hold the workers'
# bundle, or nothing will run.
docker run --rm --network none --entrypoint node "$name:$tag" --import tsx --input-type=module -e \
  "import D from 'better-sqlite3'; new D(':memory:').prepare('select 1').get(); (await import('node:fs')).accessSync('dist/dbaas/worker/main.bundle.js');" \
  || { echo "image $name:$tag cannot load better-sqlite3 or tsx, or lacks dist/dbaas/worker/main.bundle.js" >&2; exit 1; }
echo "built image $name:$tag ($(docker image inspect -f '{{.Size}}' "$name:$tag" | awk '{printf "%.0f MB", $1/1e6}'))"

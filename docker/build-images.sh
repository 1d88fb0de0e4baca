#!/usr/bin/env bash
# Builds the RideShare images with nothing pulled from a registry (the default), or from the
# official node image where a registry is reachable:
#
#   bash docker/build-images.sh [--tag TAG] [--name NAME] [--base host|registry] [--images all|app|servers] [--force]
#
#   NAME:TAG           the application (orchestrator, workers, services, gateway): dist/ compiled
#                      here and the production node_modules without tsx, esbuild or better-sqlite3's
#                      C sources, run with plain node as uid 1000.
#     --base host      (default) FROM NAME-node:TAG, assembled from this host's node binary and the
#                      shared libraries it and the project's native addons link (docker import).
#     --base registry  docker/Dockerfile.node: FROM node:20-slim, npm ci inside.
#   NAME-rabbitmq:TAG, NAME-zookeeper:TAG   the servers for docker-compose.yml, assembled the same
#                      way from this host's Debian packages (rabbitmq-server and Erlang; zookeeper
#                      and OpenJDK 17), installed with apt-get first when missing (as root).
#   --images app|servers   only those (the worker-runtime tests need only the application).
#
# An image whose sources (src, package files, lock, Dockerfiles, base; the servers' package
# versions and docker/servers) are unchanged is kept as it is, so running this before every test
# run costs about a second; --force rebuilds. Run from anywhere; needs a Docker engine, and for
# --base host a prior `npm ci` and an x86_64/arm64 Linux host.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tag=latest
name=rideshare
base=host
force=false
images=all
while (($#)); do
  case $1 in
    --tag) tag=$2; shift 2 ;;
    --name) name=$2; shift 2 ;;
    --base) base=$2; shift 2 ;;
    --images) images=$2; shift 2 ;;
    --force) force=true; shift ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ $base == host || $base == registry ]] || { echo "--base must be host or registry" >&2; exit 2; }
[[ $images == all || $images == app || $images == servers ]] || { echo "--images must be all, app or servers" >&2; exit 2; }

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
cp -a "$root/package.json" "$root/package-lock.json" "$context/"
cp -a "$root/docker/standin-server.mjs" "$root/docker/healthcheck.mjs" "$context/docker/"

# Copies files into a root filesystem at the paths they have here; a symlink comes with what it
# points to. Reads the paths from stdin, one a line; folders are made as needed.
copy_into() {
  local rootfs=$1
  # From / with relative names: cp --parents sets the copied folders' modes by their relative
  # names, which fails elsewhere.
  (
    cd /
    local item target
    while IFS= read -r item; do
      item=${item#/}
      [[ -n $item && ( -e $item || -L $item ) ]] || continue
      [[ -d $item && ! -L $item ]] && continue
      cp -a --parents "$item" "$rootfs/"
      if [[ -L $item ]]; then
        target=$(readlink -f "$item")
        target=${target#/}
        [[ -e $target && ! -d $target && ! -e $rootfs/$target ]] && cp -a --parents "$target" "$rootfs/"
      fi
    done
  )
}

# Every library the loader would map for the root filesystem's ELF files, at the path it would
# look for it (the /lib64 loader included); -L turns symlinks into the files they name.
add_libraries() {
  local rootfs=$1 lib
  shift
  local libs
  libs=$( { find "$rootfs" -type f \( -perm -u+x -o -name '*.so*' \) -print0 | xargs -0 -r -n 50 ldd 2>/dev/null; for extra in "$@"; do ldd "$extra"; done; } |
    awk '/=> \// {print $3} /^\s*\/[^ ]+ \(/ {print $1}' | sort -u)
  for lib in $libs; do
    [[ -e $rootfs$lib ]] && continue
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done
  wc -w <<<"$libs"
}

# /etc/passwd and /etc/group with root and one unprivileged user, uid and gid 1000, which every
# image runs as; /tmp; name lookups through /etc/hosts first.
add_accounts() {
  local rootfs=$1 user=$2 home=$3 top
  # The host's merged /usr: /bin, /lib… are links into /usr there, so they are here too.
  for top in bin sbin lib lib64; do
    if [[ -L /$top ]]; then
      mkdir -p "$rootfs/$(readlink "/$top")"
      ln -sfn "$(readlink "/$top")" "$rootfs/$top"
    fi
  done
  mkdir -p "$rootfs/etc" "$rootfs/tmp" "$rootfs$home"
  chmod 1777 "$rootfs/tmp"
  chown 1000:1000 "$rootfs$home"
  printf 'root:x:0:0:root:/root:/usr/sbin/nologin\n%s:x:1000:1000::%s:/usr/sbin/nologin\n' "$user" "$home" > "$rootfs/etc/passwd"
  printf 'root:x:0:\n%s:x:1000:\n' "$user" > "$rootfs/etc/group"
  printf 'hosts: files dns\n' > "$rootfs/etc/nsswitch.conf"
}

# Imports a root filesystem as IMAGE unless the one there has the same files (its fingerprint label).
import_rootfs() {
  local rootfs=$1 image=$2 what=$3 fingerprint
  fingerprint=$( (cd "$rootfs" && find . \( -type f -o -type l \) -print0 | sort -z | xargs -0 sha256sum 2>/dev/null; find . -printf '%p %U %m\n' | sort) | sha256sum | cut -c1-16)
  if [[ $(docker image inspect -f '{{index .Config.Labels "rideshare.fingerprint"}}' "$image" 2>/dev/null || true) == "$fingerprint" ]]; then
    echo "base image $image is up to date ($what, fingerprint $fingerprint)"
    return
  fi
  tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    --change "LABEL rideshare.fingerprint=$fingerprint" \
    - "$image" >/dev/null
  echo "built base image $image ($what, $(du -sm "$rootfs" | cut -f1) MB)"
}

build_base_image() {
  local image=$1 rootfs=$work/rootfs node_bin
  node_bin=$(readlink -f "$(command -v node)")
  mkdir -p "$rootfs/usr/bin" "$rootfs/app"
  add_accounts "$rootfs" node /app
  # Without its debug symbols (12 MB of Debian's node) when binutils' strip is here.
  if command -v strip >/dev/null; then strip --strip-debug -o "$rootfs/usr/bin/node" "$node_bin"; else cp -L "$node_bin" "$rootfs/usr/bin/node"; fi
  local count
  count=$(add_libraries "$rootfs" $(find "$root/node_modules" -name '*.node' -path '*/Release/*'))
  import_rootfs "$rootfs" "$image" "$("$node_bin" --version) from $node_bin and $count libraries"
}

# Debian packages the server images are made of; installed with apt-get when missing (as root),
# as .ci/run installs them for the tests.
ensure_packages() {
  local missing=() pkg
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  ((${#missing[@]})) || return 0
  if [[ $(id -u) != 0 ]]; then
    echo "the server images are made from Debian packages that are not installed: ${missing[*]}; install them (apt-get install ${missing[*]}) or run this as root" >&2
    exit 1
  fi
  echo "installing ${missing[*]} (the server images are made from them)"
  DEBIAN_FRONTEND=noninteractive quietly apt-get install -y -q "${missing[@]}" ||
    { quietly apt-get update -q && DEBIAN_FRONTEND=noninteractive quietly apt-get install -y -q "${missing[@]}"; }
}

# A package's files, less its documentation and manual pages.
package_files() {
  dpkg -L "$@" | grep -vE '^/usr/share/(doc|man|lintian|bug)/'
}

# Basic tools the servers' scripts call (bash, sh, coreutils' dirname, readlink, sha256sum…).
shell_packages=(bash dash coreutils sed grep)

build_rabbitmq_image() {
  local image=$1 rootfs=$work/rootfs-rabbitmq erlang
  erlang=$(dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' 'erlang-*' | awk '$1 == "ii" {print $2}')
  add_accounts "$rootfs" rabbitmq /var/lib/rabbitmq
  # shellcheck disable=SC2086
  package_files rabbitmq-server $erlang "${shell_packages[@]}" | grep -vE "^/(usr/lib/ocf|lib/systemd|usr/lib/systemd|etc/(init\.d|logrotate\.d|default))" | copy_into "$rootfs"
  [[ -e $rootfs/bin/sh ]] || ln -s dash "$rootfs/bin/sh"
  local count
  count=$(add_libraries "$rootfs")
  import_rootfs "$rootfs" "$image-base:$tag" "rabbitmq-server $(dpkg-query -W -f '${Version}' rabbitmq-server), erlang-base $(dpkg-query -W -f '${Version}' erlang-base), $count libraries"
  quietly docker build -f "$root/docker/servers/rabbitmq.Dockerfile" --build-arg "BASE=$image-base:$tag" -t "$image:$tag" "$root/docker/servers"
}

# The jars a jar's manifest names (Class-Path), and theirs, from /usr/share/java.
jar_closure() {
  local pending=("$@") seen=() jar next
  while ((${#pending[@]})); do
    jar=${pending[0]}
    pending=("${pending[@]:1}")
    [[ " ${seen[*]} " == *" $jar "* || ! -e $jar ]] && continue
    seen+=("$jar")
    echo "$jar"
    for next in $(unzip -p "$jar" META-INF/MANIFEST.MF 2>/dev/null | tr -d '\r' | sed -n '/^Class-Path:/,/^[A-Za-z-]*:/p' | sed -e 's/^Class-Path://' -e '/^[A-Za-z-]*:/d' -e 's/^ //' | tr -d '\n'); do
      [[ $next == /* ]] || next=$(dirname "$jar")/$next
      pending+=("$next")
    done
  done
}

build_zookeeper_image() {
  local image=$1 rootfs=$work/rootfs-zookeeper
  add_accounts "$rootfs" zookeeper /data
  mkdir -p "$rootfs/data"
  chown 1000:1000 "$rootfs/data"
  { package_files openjdk-17-jre-headless "${shell_packages[@]}" | grep -vE '^/usr/lib/debug/'; jar_closure /usr/share/java/zookeeper.jar; } | copy_into "$rootfs"
  [[ -e $rootfs/bin/sh ]] || ln -s dash "$rootfs/bin/sh"
  local count
  count=$(add_libraries "$rootfs")
  import_rootfs "$rootfs" "$image-base:$tag" "zookeeper $(dpkg-query -W -f '${Version}' zookeeper), openjdk-17-jre-headless $(dpkg-query -W -f '${Version}' openjdk-17-jre-headless), $count libraries"
  quietly docker build -f "$root/docker/servers/zookeeper.Dockerfile" --build-arg "BASE=$image-base:$tag" -t "$image:$tag" "$root/docker/servers"
}

build_server_images() {
  ensure_packages rabbitmq-server zookeeper openjdk-17-jre-headless unzip "${shell_packages[@]}"
  build_rabbitmq_image "$name-rabbitmq"
  build_zookeeper_image "$name-zookeeper"
  docker run --rm --network none --entrypoint /bin/bash "$name-rabbitmq:$tag" -c 'test -x /usr/lib/rabbitmq/bin/rabbitmq-server && erl -noshell -eval "halt()."' ||
    { echo "image $name-rabbitmq:$tag cannot run Erlang" >&2; exit 1; }
  docker run --rm --network none --entrypoint /usr/lib/jvm/java-17-openjdk-amd64/bin/java "$name-zookeeper:$tag" -cp /usr/share/java/zookeeper.jar org.apache.zookeeper.Version >/dev/null ||
    { echo "image $name-zookeeper:$tag cannot run ZooKeeper's classes" >&2; exit 1; }
  echo "built images $name-rabbitmq:$tag ($(image_size "$name-rabbitmq:$tag")) and $name-zookeeper:$tag ($(image_size "$name-zookeeper:$tag"))"
}

image_size() { docker image inspect -f '{{.Size}}' "$1" | awk '{printf "%.0f MB", $1/1e6}'; }

# The server images are rebuilt only when their packages' versions or docker/servers change.
servers_fingerprint() {
  { dpkg-query -W -f '${Package} ${Version}\n' rabbitmq-server zookeeper openjdk-17-jre-headless 'erlang-*' "${shell_packages[@]}" 2>/dev/null
    (cd "$root" && find docker/servers -type f -print0 | sort -z | xargs -0 sha256sum); echo "$(uname -m)"; } | sha256sum | cut -c1-16
}
if [[ $images != app ]]; then
  servers=$(servers_fingerprint)
  if [[ $force == false &&
    $(docker image inspect -f '{{index .Config.Labels "rideshare.servers"}}' "$name-rabbitmq:$tag" 2>/dev/null || true) == "$servers" &&
    $(docker image inspect -f '{{index .Config.Labels "rideshare.servers"}}' "$name-zookeeper:$tag" 2>/dev/null || true) == "$servers" ]]; then
    echo "images $name-rabbitmq:$tag and $name-zookeeper:$tag are up to date (packages and scripts $servers)"
  else
    build_server_images
    # The label goes on with a no-op build, so the next run can tell the images are current.
    for server in rabbitmq zookeeper; do
      printf 'FROM %s\nLABEL rideshare.servers=%s\n' "$name-$server:$tag" "$servers" |
        quietly docker build -t "$name-$server:$tag" -
    done
  fi
fi
[[ $images == servers ]] && exit 0

previous=$(docker image inspect -f '{{.Id}}' "$name:$tag" 2>/dev/null || true)
# What the image is made of; the installed tree is summed up by npm's own node_modules/.package-lock.json.
sources() {
  (cd "$root" && find src package.json package-lock.json tsconfig.json tsconfig.build.json scripts/build.mjs scripts/copy-assets.mjs docker/build-images.sh docker/Dockerfile docker/Dockerfile.node docker/standin-server.mjs docker/healthcheck.mjs node_modules/.package-lock.json -type f -print0 2>/dev/null |
    sort -z | xargs -0 sha256sum)
  echo "base=$base ${1:-}"
}
up_to_date() {
  [[ $force == false && -n $previous &&
    $(docker image inspect -f '{{index .Config.Labels "rideshare.sources"}}' "$name:$tag" 2>/dev/null) == "$1" ]]
}

# The runtime needs neither the TypeScript loader (tsx) nor the compiler (esbuild, for npm start's
# build): the image runs dist/ with plain node. better-sqlite3 keeps its compiled addon and its
# JavaScript; its C sources (the SQLite amalgamation) and build intermediates stay out.
slim_modules() {
  local modules=$1
  (cd "$(dirname "$modules")" && quietly npm prune --omit=dev --offline --ignore-scripts --no-audit --no-fund)
  # What the production dependencies other than tsx and esbuild need, by npm's own record of the
  # tree (a package is found as node resolves it: nested first, then upwards); the rest goes.
  node --input-type=module -e '
    import fs from "node:fs"; import path from "node:path";
    const [modules] = process.argv.slice(1);
    const tree = JSON.parse(fs.readFileSync(path.join(modules, ".package-lock.json"), "utf8")).packages;
    const root = JSON.parse(fs.readFileSync(path.join(modules, "..", "package.json"), "utf8"));
    const kept = new Set();
    const locate = (from, name) => {
      for (let at = from; ; at = at.slice(0, Math.max(0, at.lastIndexOf("/node_modules/")))) {
        const key = `${at ? at + "/" : ""}node_modules/${name}`;
        if (tree[key]) return key;
        if (!at) return undefined;
      }
    };
    const visit = (key) => {
      if (!key || kept.has(key)) return;
      kept.add(key);
      const entry = tree[key];
      for (const name of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies })) visit(locate(key, name));
    };
    for (const name of Object.keys(root.dependencies)) if (name !== "tsx" && name !== "esbuild") visit(locate("", name));
    for (const key of Object.keys(tree)) {
      if (!kept.has(key) && !tree[key].dev) fs.rmSync(path.join(modules, "..", key), { recursive: true, force: true });
    }' "$modules"
  local sqlite=$modules/better-sqlite3
  rm -rf "$sqlite/deps" "$sqlite/src" "$sqlite/build/deps" "$sqlite/build/Release/obj" "$sqlite/build/Release/obj.target" \
    "$sqlite/build/Release/.deps" "$sqlite/build/Release/test_extension.node" "$sqlite/build/Release/sqlite3.a" "$sqlite/build/"*.mk "$sqlite/build/Makefile" "$sqlite/build/config.gypi"
  find "$modules" \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -iname 'CHANGELOG*' \) -type f -delete
}

if [[ $base == host ]]; then
  [[ -d $root/node_modules ]] || { echo "run npm ci first: the host's node_modules go into the image" >&2; exit 1; }
  build_base_image "$name-node:$tag"
  fingerprint=$(sources "$(docker image inspect -f '{{.Id}}' "$name-node:$tag")" | sha256sum | cut -c1-16)
  if up_to_date "$fingerprint"; then
    echo "image $name:$tag is up to date (sources $fingerprint)"
    exit 0
  fi
  # The compiled tree (npm run build): every service and the workers' one-file bundle.
  quietly node "$root/scripts/build.mjs"
  cp -a "$root/dist" "$context/"
  find "$context/dist" -name '*.map' -delete
  # The folder's contents: node_modules may be a link to a shared install, which must stay as it is.
  mkdir -p "$context/node_modules"
  cp -a "$root/node_modules/." "$context/node_modules/"
  slim_modules "$context/node_modules"
  quietly docker build -f "$root/docker/Dockerfile" --build-arg "BASE=$name-node:$tag" \
    --label "rideshare.sources=$fingerprint" -t "$name:$tag" "$context"
else
  quietly node "$root/scripts/build.mjs"
  cp -a "$root/dist" "$context/"
  # The registry's node:20-slim may move, so these builds are never skipped.
  quietly docker build -f "$root/docker/Dockerfile.node" -t "$name:$tag" "$context"
fi

# A rebuild leaves the previous image untagged; drop it unless a container still uses it.
if [[ -n $previous && $previous != "$(docker image inspect -f '{{.Id}}' "$name:$tag")" ]]; then
  docker image rm "$previous" >/dev/null 2>&1 || true
fi

# The image must load the native SQLite addon with plain node, hold every entry point, and run as
# its unprivileged user, or nothing will run.
docker run --rm --network none --entrypoint node "$name:$tag" --input-type=module -e \
  "import D from 'better-sqlite3'; new D(':memory:').prepare('select 1').get(); const fs = await import('node:fs');
   for (const entry of ['dist/dbaas/worker/main.bundle.js', 'dist/dbaas/orchestrator/main.js', 'dist/services/users/main.js', 'dist/services/rides/main.js', 'dist/services/gateway/main.js']) fs.accessSync(entry);
   if (process.getuid() === 0) throw new Error('runs as root');" \
  || { echo "image $name:$tag cannot load better-sqlite3, lacks an entry point of dist/, or runs as root" >&2; exit 1; }
echo "built image $name:$tag ($(image_size "$name:$tag"))"

#!/usr/bin/env bash
# The Docker engine and the images that make test-images (and the targets after it) run: provisioning only,
# the checks are pytest's (deploy/tests/images/).
#
#   deploy/images/provision.sh start   start our own dockerd (own socket, data root and exec root; no bridge,
#                                      no iptables); refuses while a dockerd started by this script is alive
#   deploy/images/provision.sh build   Debian and Node base images (debootstrap, cached in the data root),
#                                      then the project's images, all with stable tags (below)
#   deploy/images/provision.sh stop    stop that dockerd (prunes replaced images and bounds the build cache)
#
# Root only; Debian 12 without Docker Hub; the tools (docker.io, debootstrap) come from scripts/deps.sh, so
# give your target the test-images tools in scripts/system-tools.txt. It then reuses engine and images so:
#
#   deploy/images/provision.sh start && trap 'deploy/images/provision.sh stop' EXIT
#   deploy/images/provision.sh build
#   DOCKER_HOST=unix:///run/crypto-rates-images/docker.sock docker run --network host crypto-rates-backend:test
#
# Tags: crypto-rates-backend:test, crypto-rates-frontend:test, crypto-rates-fake-coingecko:test (the test kit's
# fake upstream; test code, never in the other two), crypto-rates-postgres:test (Debian's PostgreSQL in place
# of the official image), and the bases crypto-rates-local/debian:bookworm (python3, nginx) and
# crypto-rates-local/node:bookworm.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/sbin:/sbin"   # dockerd

STATE_DIR=${CRYPTO_RATES_IMAGES_STATE:-/var/lib/crypto-rates-images}   # dockerd data root: cached bases
RUN_DIR=/run/crypto-rates-images
PIDFILE=$RUN_DIR/dockerd.pid
# Debian's CLI builds with the daemon's built-in BuildKit (Dockerfile.dockerignore, RUN --mount, secrets);
# a newer CLI without the buildx plugin would fall back to the legacy builder, which ignores those.
DOCKER=/usr/bin/docker
export DOCKER_HOST="unix://$RUN_DIR/docker.sock" DOCKER_BUILDKIT=1
VENV=.venv
SUITE=bookworm
BASE_PACKAGES=python3,python3-venv,nginx,ca-certificates
DEBIAN_TAG=crypto-rates-local/debian:$SUITE
NODE_TAG=crypto-rates-local/node:$SUITE
BACKEND_IMAGE=crypto-rates-backend:test
FRONTEND_IMAGE=crypto-rates-frontend:test
FAKE_IMAGE=crypto-rates-fake-coingecko:test
POSTGRES_IMAGE=crypto-rates-postgres:test

step() { printf '\n== %s\n' "$*"; }
fail() { printf '\nprovision: %s\n' "$*" >&2; exit 1; }

# ---- the engine -------------------------------------------------------------------------------------------
need_tools() {
    # The one list of system tools is scripts/system-tools.txt; make installs a target's tools first.
    local tool
    for tool in dockerd "$DOCKER" debootstrap; do
        command -v "$tool" >/dev/null || fail "$tool is missing: run 'scripts/deps.sh test-images' (make test-images does)"
    done
}

dockerd_alive() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

start() {
    [ "$(id -u)" -eq 0 ] || fail "needs root (dockerd, debootstrap)"
    need_tools
    mkdir -p "$STATE_DIR/docker" "$RUN_DIR"
    dockerd_alive && fail "a dockerd started by $0 is alive (pid $(cat "$PIDFILE")): one run at a time; wait for it"
    step "start dockerd (data root $STATE_DIR/docker, socket $DOCKER_HOST)"
    # No bridge, no iptables: containers use the host network only. Detached, so that it outlives this script.
    setsid dockerd --bridge=none --iptables=false --ip6tables=false \
        --data-root "$STATE_DIR/docker" --exec-root "$RUN_DIR/exec" \
        --pidfile "$PIDFILE" --host "$DOCKER_HOST" >"$RUN_DIR/dockerd.log" 2>&1 </dev/null &
    local pid=$!
    for _ in $(seq 60); do
        "$DOCKER" version >/dev/null 2>&1 && break
        kill -0 "$pid" 2>/dev/null || { tail -20 "$RUN_DIR/dockerd.log"; fail "dockerd exited"; }
        sleep 0.5
    done
    "$DOCKER" version --format 'client {{.Client.Version}}, daemon {{.Server.Version}}' \
        || { tail -20 "$RUN_DIR/dockerd.log"; fail "dockerd did not answer within 30 s"; }
}

stop() {
    dockerd_alive || return 0
    local pid
    pid=$(cat "$PIDFILE")
    # The data root persists between runs: drop replaced images and bound the build cache.
    "$DOCKER" image prune --force >/dev/null || true
    "$DOCKER" builder prune --force --keep-storage 3GB >/dev/null || true
    kill "$pid"
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
    kill -KILL "$pid"
}

# ---- base images ------------------------------------------------------------------------------------------
image_exists() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

debian_mirror() {
    # The mirror the host's apt uses (deb822 or one-line sources), never a host written in this repository.
    local uri
    uri=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | grep -v security | awk '{print $2; exit}')
    if [ -z "$uri" ]; then
        uri=$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | grep -v security \
            | grep -oE '[a-z]+://[^ ]+' | head -n 1)
    fi
    [ -n "$uri" ] || fail "no Debian mirror in /etc/apt/sources.list or /etc/apt/sources.list.d/"
    printf '%s\n' "$uri"
}

build_debian_base() {
    local tag=$1 rootfs="$WORK/rootfs" mirror start=$SECONDS
    if image_exists "$tag"; then echo "base $tag (cached)"; return; fi
    mirror=$(debian_mirror)
    step "debootstrap $SUITE ($BASE_PACKAGES)"
    debootstrap --variant=minbase --include="$BASE_PACKAGES" "$SUITE" "$rootfs" "$mirror" \
        >"$WORK/debootstrap.log" 2>&1 || { tail -30 "$WORK/debootstrap.log"; fail "debootstrap failed"; }
    # Trust what the host trusts, so pip and npm inside builds accept the same certificates.
    find /usr/local/share/ca-certificates -name '*.crt' -exec cp {} "$rootfs/usr/local/share/ca-certificates/" \;
    chroot "$rootfs" update-ca-certificates >>"$WORK/debootstrap.log" 2>&1
    chroot "$rootfs" apt-get clean
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log "$rootfs"/var/cache/debconf/*-old
    tar -C "$rootfs" --numeric-owner -c . \
        | "$DOCKER" import --change 'ENV LANG=C.UTF-8' --change 'CMD ["bash"]' - "$tag" >/dev/null
    rm -rf --one-file-system "$rootfs"
    echo "base $tag built in $((SECONDS - start)) s"
}

build_node_base() {
    # Debian 12's nodejs (18) is too old for Vite 7: copy the host's Node 20 installation (the nodesource
    # package plus the npm it carries now) onto the Debian base, as the official node:20 image has it.
    local tag=$1 debian=$2 dir="$WORK/node"
    if image_exists "$tag"; then echo "base $tag (cached)"; return; fi
    dpkg -s nodejs >/dev/null 2>&1 || fail "the host needs the nodejs package (Node >= 20.19) for the node base"
    mkdir -p "$dir"
    {
        dpkg -L nodejs | while read -r f; do if [ -f "$f" ] || [ -L "$f" ]; then printf '%s\n' "${f#/}"; fi; done
        # npm may have been upgraded in place since the package was installed: take what is there now.
        (cd / && find usr/lib/node_modules/npm \( -type f -o -type l \))
    } | sort -u >"$dir/files"
    tar -C / --no-recursion -T "$dir/files" -cf "$dir/node.tar"
    printf 'FROM %s\nADD node.tar /\nENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt\n' "$debian" \
        >"$dir/Dockerfile"
    "$DOCKER" build --quiet --tag "$tag" "$dir" >/dev/null
    echo "base $tag built (node $("$DOCKER" run --rm --network host "$tag" node --version))"
}

build_bases() {
    step "base images"
    command -v node >/dev/null || fail "the node base copies the host's Node (>= 20.19): install nodejs"
    local key node_key
    # Keyed by what goes into them (packages, the host's CA certificates, Node), so a change rebuilds them;
    # the stable tags point at the current ones.
    key=$({ echo "$SUITE $BASE_PACKAGES v1"; cat /usr/local/share/ca-certificates/*.crt 2>/dev/null || true; } \
        | sha256sum | cut -c1-12)
    node_key=$({ echo "$key"; node --version; npm --version; } | sha256sum | cut -c1-12)
    build_debian_base "$DEBIAN_TAG-$key"
    build_node_base "$NODE_TAG-$node_key" "$DEBIAN_TAG-$key"
    "$DOCKER" tag "$DEBIAN_TAG-$key" "$DEBIAN_TAG"
    "$DOCKER" tag "$NODE_TAG-$node_key" "$NODE_TAG"
}

# ---- project images ---------------------------------------------------------------------------------------
write_registry_settings() {
    # How pip and npm reach their registries here, handed to the builds as secrets (never a layer, never
    # committed): the CA bundle, plus the host's index or registry when it is configured as a URL.
    local index registry
    index=${PIP_INDEX_URL:-$("$VENV/bin/pip" config get global.index-url 2>/dev/null || true)}
    {
        printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n'
        case $index in http://* | https://*) printf 'index-url = %s\n' "$index" ;; esac
    } >"$WORK/pip.conf"
    registry=$(npm config get registry 2>/dev/null || true)
    {
        printf 'cafile=/etc/ssl/certs/ca-certificates.crt\n'
        case $registry in http://* | https://*) printf 'registry=%s\n' "$registry" ;; esac
    } >"$WORK/npmrc"
    chmod 600 "$WORK/pip.conf" "$WORK/npmrc"
}

build_image() {
    local tag=$1 dockerfile=$2 context=$3 start=$SECONDS cache=()
    shift 3
    [ "${NO_CACHE:-0}" = 1 ] && cache=(--no-cache)
    step "docker build $tag ($dockerfile, context $context)"
    "$DOCKER" build "${cache[@]}" --network=host --progress=plain --file "$dockerfile" --tag "$tag" \
        --build-arg VERSION="$VERSION" --build-arg REVISION="$REVISION" "$@" "$context" \
        >"$WORK/build.log" 2>&1 || { tail -60 "$WORK/build.log"; fail "docker build $tag"; }
    echo "built $tag in $((SECONDS - start)) s, $(($("$DOCKER" image inspect --format '{{.Size}}' "$tag") / 1000000)) MB"
}

build() {
    [ -x "$VENV/bin/python" ] || fail "$VENV missing: run 'make venv' (make test-images does)"
    "$DOCKER" version >/dev/null 2>&1 || fail "no dockerd at $DOCKER_HOST: run '$0 start' first"
    WORK=$(mktemp -d /tmp/crypto-rates-images.XXXXXX)
    # shellcheck disable=SC2064 # expand WORK now
    trap "findmnt -rno TARGET | grep '^$WORK/' | sort -r | xargs -r umount -l || true; rm -rf --one-file-system '$WORK'" EXIT
    build_bases
    write_registry_settings
    VERSION=$("$VENV/bin/python" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
    REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown)
    build_image "$BACKEND_IMAGE" backend/Dockerfile . \
        --build-arg PYTHON_IMAGE="$DEBIAN_TAG" --secret id=pip.conf,src="$WORK/pip.conf"
    build_image "$FRONTEND_IMAGE" frontend/Dockerfile frontend \
        --build-arg NODE_IMAGE="$NODE_TAG" --build-arg NGINX_IMAGE="$DEBIAN_TAG" \
        --secret id=npmrc,src="$WORK/npmrc"
    build_image "$FAKE_IMAGE" deploy/images/fake-coingecko.Dockerfile . --build-arg PYTHON_IMAGE="$DEBIAN_TAG"
    build_image "$POSTGRES_IMAGE" deploy/images/postgres.Dockerfile deploy/images --build-arg DEBIAN_IMAGE="$DEBIAN_TAG"
}

case ${1:-} in
    start | stop | build) "$1" ;;
    *) fail "usage: $0 start|build|stop (got '${1:-}')" ;;
esac

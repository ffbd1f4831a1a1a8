#!/usr/bin/env bash
# make test-images: build the real backend and frontend images on local Debian base images, run them the
# way production does (read-only root, no capabilities, non-root) against a fake CoinGecko, and check them.
#
# Runs as root on a Debian 12 machine without Docker Hub (make installs docker.io and debootstrap if missing):
# it starts its own dockerd (own socket and data root, host networking only) and stops it at the end. Base
# images come from debootstrap and are cached in that data root between runs. All traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/../.."

STATE_DIR=${CRYPTO_RATES_IMAGES_STATE:-/var/lib/crypto-rates-images}   # dockerd data root: cached bases
RUN_DIR=/run/crypto-rates-images
# Debian's CLI builds with the daemon's built-in BuildKit (Dockerfile.dockerignore, RUN --mount, secrets);
# a newer CLI without the buildx plugin would fall back to the legacy builder, which ignores those.
DOCKER=/usr/bin/docker
export DOCKER_HOST="unix://$RUN_DIR/docker.sock" DOCKER_BUILDKIT=1
VENV=.venv
SUITE=bookworm
BASE_PACKAGES=python3,python3-venv,nginx,ca-certificates
BACKEND_IMAGE=crypto-rates-backend:test
FRONTEND_IMAGE=crypto-rates-frontend:test
NAME=crypto-rates-test          # prefix of the containers and the volume this test creates
DASHBOARD=deploy/helm/crypto-rates/dashboards/crypto-rates.json
FIXTURE=backend/crypto_rates/data/sample-exchange-rates.json

WORK=$(mktemp -d /tmp/crypto-rates-images.XXXXXX)
DOCKERD_PID=""
FAKE_PID=""
PASSED=0
SUMMARY=()

step() { printf '\n== %s\n' "$*"; }
ok() { PASSED=$((PASSED + 1)); printf 'ok    %s\n' "$*"; }
fail() { printf '\nFAIL  %s\n' "$*" >&2; exit 1; }

cleanup() {
    local rc=$?
    set +e
    if [ -n "$DOCKERD_PID" ]; then
        "$DOCKER" rm --force "$NAME-backend" "$NAME-frontend" >/dev/null 2>&1
        "$DOCKER" volume rm "$NAME-snapshot" >/dev/null 2>&1
        kill "$DOCKERD_PID" 2>/dev/null
        for _ in $(seq 60); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.5; done
        kill -0 "$DOCKERD_PID" 2>/dev/null && kill -KILL "$DOCKERD_PID"
    fi
    [ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null
    # A failed debootstrap can leave /proc or /sys mounted inside the rootfs: unmount before deleting.
    findmnt -rno TARGET | grep "^$WORK/" | sort -r | xargs -r umount -l
    rm -rf --one-file-system "$WORK"
    [ "$rc" -eq 0 ] || printf '\ntest-images: FAILED (exit %s), see the step above\n' "$rc" >&2
    exit "$rc"
}
trap cleanup EXIT

# ---- tools ------------------------------------------------------------------------------------------------
# make test-images installs the system tools first (scripts/deps.sh test-images, the one list) and the venv.
install_tools() {
    [ "$(id -u)" -eq 0 ] || fail "test-images needs root (dockerd, debootstrap)"
    [ -x "$VENV/bin/python" ] || fail "$VENV missing: run 'make venv' (make test-images does)"
}

# ---- static checks: cheap, so they run before anything slow ---------------------------------------------
static_checks() {
    step "static checks"
    "$VENV/bin/hadolint" backend/Dockerfile frontend/Dockerfile || fail "hadolint found problems (above)"
    ok "hadolint: backend/Dockerfile, frontend/Dockerfile"
    "$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec compose.yaml >"$WORK/compose-check.log" \
        || { cat "$WORK/compose-check.log"; fail "compose.yaml does not match the compose specification"; }
    ok "compose.yaml matches the compose specification"
    promtool check config deploy/observability/prometheus.yml >/dev/null \
        || fail "deploy/observability/prometheus.yml is not a valid Prometheus config"
    ok "compose's Prometheus config passes promtool"
    [ -f "$DASHBOARD" ] || fail "compose's Grafana mounts $DASHBOARD, which does not exist"
    ok "the dashboard compose provisions exists ($DASHBOARD)"
    "$VENV/bin/shellcheck" deploy/images/*.sh frontend/docker-entrypoint.sh || fail "shellcheck found problems (above)"
    ok "shellcheck: deploy/images/*.sh, frontend/docker-entrypoint.sh"
    if grep -nE '://|^-|/opt/' backend/requirements.lock; then
        fail "backend/requirements.lock names an index, host or path (lines above): run deploy/images/lock-backend.sh"
    fi
    "$VENV/bin/python" - <<'EOF' || fail "backend/requirements.lock is out of date: run deploy/images/lock-backend.sh"
import re, sys, tomllib
from packaging.requirements import Requirement
with open("pyproject.toml", "rb") as f:
    wanted = [Requirement(r) for r in tomllib.load(f)["project"]["dependencies"]]
norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()
pinned = {}
for line in open("backend/requirements.lock"):
    m = re.match(r"^([A-Za-z0-9_.-]+)==([^ ;\\]+)", line)
    if m:
        pinned[norm(m.group(1))] = m.group(2)
bad = [str(r) for r in wanted if norm(r.name) not in pinned or pinned[norm(r.name)] not in r.specifier]
if bad:
    print("not pinned, or pinned outside the range:", ", ".join(bad), file=sys.stderr)
    sys.exit(1)
EOF
    ok "backend/requirements.lock pins every dependency of pyproject.toml, names no host"
}

# ---- dockerd ----------------------------------------------------------------------------------------------
start_dockerd() {
    step "start dockerd (data root $STATE_DIR/docker)"
    mkdir -p "$STATE_DIR/docker" "$RUN_DIR"
    if [ -f "$RUN_DIR/dockerd.pid" ] && kill -0 "$(cat "$RUN_DIR/dockerd.pid")" 2>/dev/null; then
        fail "a dockerd started by another test-images run is alive (pid $(cat "$RUN_DIR/dockerd.pid"))"
    fi
    # No bridge, no iptables: containers use the host network only.
    dockerd --bridge=none --iptables=false --ip6tables=false \
        --data-root "$STATE_DIR/docker" --exec-root "$RUN_DIR/exec" \
        --pidfile "$RUN_DIR/dockerd.pid" --host "$DOCKER_HOST" >"$WORK/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    for _ in $(seq 60); do
        "$DOCKER" version >/dev/null 2>&1 && break
        kill -0 "$DOCKERD_PID" 2>/dev/null || { tail -20 "$WORK/dockerd.log"; fail "dockerd exited"; }
        sleep 0.5
    done
    "$DOCKER" version --format 'client {{.Client.Version}}, daemon {{.Server.Version}}' \
        || { tail -20 "$WORK/dockerd.log"; fail "dockerd did not answer within 30 s"; }
}

# retry TRIES PAUSE COMMAND...: run COMMAND until it succeeds, at most TRIES times PAUSE s apart; only the
# last try's stderr is shown, and its status is returned.
retry() {
    local tries=$1 pause=$2 try
    shift 2
    for ((try = 1; try < tries; try++)); do
        "$@" 2>/dev/null && return 0
        sleep "$pause"
    done
    "$@"
}

image_exists() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

# ---- base images ------------------------------------------------------------------------------------------
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
    local tag=$1 rootfs="$WORK/rootfs" mirror
    if image_exists "$tag"; then ok "base $tag (cached)"; return; fi
    mirror=$(debian_mirror)
    step "debootstrap $SUITE ($BASE_PACKAGES)"
    local start=$SECONDS
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
    SUMMARY+=("base $tag: $((SECONDS - start)) s")
    ok "base $tag built"
}

build_node_base() {
    # Debian 12's nodejs (18) is too old for Vite 7: copy the host's Node 20 installation (the nodesource
    # package plus the npm it carries now) onto the Debian base, as the official node:20 image has it.
    local tag=$1 debian=$2 dir="$WORK/node"
    if image_exists "$tag"; then ok "base $tag (cached)"; return; fi
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
    ok "base $tag built (node $("$DOCKER" run --rm --network host "$tag" node --version))"
}

build_bases() {
    step "base images"
    command -v node >/dev/null || fail "the node base copies the host's Node (>= 20.19): install nodejs"
    local key node_key
    key=$({ echo "$SUITE $BASE_PACKAGES v1"; cat /usr/local/share/ca-certificates/*.crt 2>/dev/null || true; } \
        | sha256sum | cut -c1-12)
    node_key=$({ echo "$key"; node --version; npm --version; } | sha256sum | cut -c1-12)
    DEBIAN_BASE=crypto-rates-local/debian:$SUITE-$key
    NODE_BASE=crypto-rates-local/node:$SUITE-$node_key
    build_debian_base "$DEBIAN_BASE"
    build_node_base "$NODE_BASE" "$DEBIAN_BASE"
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
        >"$WORK/build-${tag%%:*}.log" 2>&1 || { tail -60 "$WORK/build-${tag%%:*}.log"; fail "docker build $tag"; }
    SUMMARY+=("build $tag: $((SECONDS - start)) s")
    ok "built $tag in $((SECONDS - start)) s"
}

build_images() {
    write_registry_settings
    VERSION=$("$VENV/bin/python" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
    REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown)
    build_image "$BACKEND_IMAGE" backend/Dockerfile . \
        --build-arg PYTHON_IMAGE="$DEBIAN_BASE" --secret id=pip.conf,src="$WORK/pip.conf"
    build_image "$FRONTEND_IMAGE" frontend/Dockerfile frontend \
        --build-arg NODE_IMAGE="$NODE_BASE" --build-arg NGINX_IMAGE="$DEBIAN_BASE" \
        --secret id=npmrc,src="$WORK/npmrc"
}

check_image_config() {
    local image=$1 user=$2 port=$3 config
    # shellcheck disable=SC2016 # a Go template, not a shell expansion
    config=$("$DOCKER" image inspect --format \
        '{{.Config.User}} {{range $p, $_ := .Config.ExposedPorts}}{{$p}}{{end}} {{if .Config.Healthcheck}}healthcheck{{end}} {{index .Config.Labels "org.opencontainers.image.revision"}}' \
        "$image")
    [ "$config" = "$user $port/tcp healthcheck $REVISION" ] \
        || fail "$image: expected 'USER $user, EXPOSE $port, HEALTHCHECK, revision label $REVISION', got: $config"
    ok "$image: user $user, exposes $port, has a health check and the revision label"
}

check_runtime_contents() {
    "$DOCKER" run --rm --network host --entrypoint python "$BACKEND_IMAGE" -c 'import pip' 2>/dev/null \
        && fail "$BACKEND_IMAGE still contains pip: the runtime stage must hold only the venv and the code"
    ok "$BACKEND_IMAGE: no pip in the runtime venv"
    "$DOCKER" run --rm --network host --entrypoint sh "$FRONTEND_IMAGE" -c 'command -v node npm' \
        && fail "$FRONTEND_IMAGE contains node or npm: the runtime stage must hold only nginx and the static files"
    ok "$FRONTEND_IMAGE: no node or npm at run time"
    local out rc=0
    out=$("$DOCKER" run --rm --network host --read-only --tmpfs /tmp --env LISTEN_PORT=eighty "$FRONTEND_IMAGE" 2>&1) \
        || rc=$?
    if [ "$rc" -eq 0 ] || ! grep -q LISTEN_PORT <<<"$out"; then
        fail "$FRONTEND_IMAGE with LISTEN_PORT=eighty: expected a failed start naming LISTEN_PORT, got exit $rc: $out"
    fi
    ok "$FRONTEND_IMAGE refuses a bad LISTEN_PORT at start, naming it"
}

# ---- running them ----------------------------------------------------------------------------------------
free_port() { "$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_healthy() {
    local name=$1 status
    for _ in $(seq 120); do
        status=$("$DOCKER" inspect --format '{{.State.Status}} {{.State.Health.Status}}' "$name")
        case $status in
            "running healthy") ok "$name: health check passes"; return ;;
            running*) sleep 0.5 ;;
            *) "$DOCKER" logs --tail 40 "$name"; fail "$name stopped ($status)" ;;
        esac
    done
    "$DOCKER" logs --tail 40 "$name"
    "$DOCKER" inspect --format '{{json .State.Health}}' "$name"
    fail "$name not healthy after 60 s ($status)"
}

check_uid() {
    local name=$1 uid=$2 uids
    uids=$("$DOCKER" top "$name" -eo pid,uid | awk 'NR > 1 {print $2}' | sort -u | tr '\n' ' ')
    [ "$uids" = "$uid " ] || fail "$name: processes run as uid(s) ${uids}, expected only $uid"
    ok "$name: every process runs as uid $uid"
}

# Stops a container and checks that it ended on its own after SIGTERM/SIGQUIT (not killed at the timeout).
stop_container() {
    local name=$1 start state
    start=$(date +%s%N)
    "$DOCKER" stop --time 10 "$name" >/dev/null
    local ms=$((($(date +%s%N) - start) / 1000000))
    state=$("$DOCKER" inspect --format '{{.State.ExitCode}} {{.State.OOMKilled}}' "$name")
    [ "$state" = "0 false" ] || { "$DOCKER" logs --tail 20 "$name"; fail "$name did not exit cleanly on stop (exit code, oom: $state)"; }
    SUMMARY+=("docker stop $name: $ms ms")
    ok "$name stops cleanly (exit 0 in $ms ms)"
}

run_and_check() {
    local fake_port backend_port frontend_port expected body
    fake_port=$(free_port)
    backend_port=$(free_port)
    frontend_port=$(free_port)
    expected=$("$VENV/bin/python" -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["rates"]))' "$FIXTURE")

    step "run the images (fake CoinGecko :$fake_port, backend :$backend_port, frontend :$frontend_port)"
    PYTHONPATH=backend "$VENV/bin/python" -m testkit.fake_coingecko --host 127.0.0.1 --port "$fake_port" --fixture "$FIXTURE" \
        >"$WORK/fake.log" 2>&1 &
    FAKE_PID=$!
    retry 40 0.25 curl -fsS -o /dev/null "http://127.0.0.1:$fake_port/api/v3/exchange_rates" \
        || { cat "$WORK/fake.log"; fail "fake CoinGecko did not start"; }

    # Production settings: read-only root, /tmp in memory, no capabilities, the snapshot on a volume.
    # The health interval is shortened so the test does not wait; the check command is the image's own.
    local hardening=(--network host --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges
        --health-interval 2s --detach)
    # Leftovers of a run that was killed before its clean-up.
    "$DOCKER" rm --force "$NAME-backend" "$NAME-frontend" >/dev/null 2>&1 || true
    "$DOCKER" volume rm "$NAME-snapshot" >/dev/null 2>&1 || true
    "$DOCKER" volume create "$NAME-snapshot" >/dev/null
    "$DOCKER" run "${hardening[@]}" --name "$NAME-backend" \
        --volume "$NAME-snapshot:/var/lib/crypto-rates" \
        --env HOST=127.0.0.1 --env PORT="$backend_port" \
        --env COINGECKO_BASE_URL="http://127.0.0.1:$fake_port/api/v3" \
        "$BACKEND_IMAGE" >/dev/null
    "$DOCKER" run "${hardening[@]}" --name "$NAME-frontend" \
        --env LISTEN_PORT="$frontend_port" --env BACKEND_URL="http://127.0.0.1:$backend_port" \
        "$FRONTEND_IMAGE" >/dev/null

    wait_healthy "$NAME-backend"
    wait_healthy "$NAME-frontend"
    retry 60 0.5 curl -fsS -o /dev/null "http://127.0.0.1:$backend_port/health/ready" \
        || { "$DOCKER" logs --tail 40 "$NAME-backend"; fail "backend not ready after 30 s"; }
    ok "backend ready (fetched from the fake CoinGecko)"

    local base="http://127.0.0.1:$frontend_port"
    body=$(curl -fsS "$base/") || fail "GET $base/ failed"
    local asset
    asset=$(grep -oE '/assets/[^"]+\.js' <<<"$body" | head -n 1)
    [ -n "$asset" ] || fail "GET $base/ is not the built app (no /assets/*.js script): ${body:0:300}"
    curl -fsS -o /dev/null "$base$asset" || fail "GET $base$asset failed"
    ok "UI loads through nginx ($base/ and $asset)"
    curl -fsS -o /dev/null "$base/healthz" || fail "GET $base/healthz failed"
    ok "nginx answers /healthz"

    curl -fsS "$base/api/v1/rates" -o "$WORK/rates.json" || fail "GET $base/api/v1/rates through nginx failed"
    "$VENV/bin/python" - "$WORK/rates.json" "$expected" <<'EOF' || fail "/api/v1/rates through nginx is wrong"
import json, sys
answer, expected = json.load(open(sys.argv[1])), int(sys.argv[2])
problems = []
if answer.get("count") != expected or len(answer.get("rates", [])) != expected:
    problems.append(f"count {answer.get('count')}, {len(answer.get('rates', []))} rows; expected {expected}")
if answer.get("source") != "coingecko":
    problems.append(f"source {answer.get('source')!r}, expected 'coingecko' (the fake upstream)")
if problems:
    sys.exit("; ".join(problems))
EOF
    ok "/api/v1/rates through nginx returns the fixture's $expected units from the upstream"

    retry 20 0.5 "$DOCKER" exec "$NAME-backend" test -s /var/lib/crypto-rates/snapshot.json \
        || fail "backend did not persist its snapshot to the volume /var/lib/crypto-rates"
    ok "backend persists the snapshot on its volume despite the read-only root"

    check_uid "$NAME-backend" 10001
    check_uid "$NAME-frontend" 10002
    stop_container "$NAME-frontend"
    stop_container "$NAME-backend"
}

summary() {
    step "summary"
    local image
    for image in "$BACKEND_IMAGE" "$FRONTEND_IMAGE" "$DEBIAN_BASE" "$NODE_BASE"; do
        printf '%-50s %6s MB\n' "$image" \
            "$(($("$DOCKER" image inspect --format '{{.Size}}' "$image") / 1000000))"
    done
    printf '%s\n' "${SUMMARY[@]}"
    # The data root persists between runs: drop replaced images and bound the build cache.
    "$DOCKER" image prune --force >/dev/null
    "$DOCKER" builder prune --force --keep-storage 3GB >/dev/null
    printf '\ntest-images: %d passed, 0 failed\n' "$PASSED"
}

install_tools
static_checks
start_dockerd
build_bases
build_images
check_image_config "$BACKEND_IMAGE" 10001:10001 8000
check_image_config "$FRONTEND_IMAGE" 10002:10002 8080
check_runtime_contents
run_and_check
summary

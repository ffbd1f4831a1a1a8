#!/usr/bin/env bash
# A real Kubernetes node for the local control plane: containerd + runc + CNI bridge, kubelet, kube-proxy
# (iptables) and CoreDNS, all inside a network namespace this script creates. Pod addresses exist only in
# that namespace (and on loopback); the machine's own interfaces never see them.
#
#   node.sh up DIR        start the node; DIR (empty or missing) holds all its state, logs and sockets
#   node.sh forward DIR HOST_PORT IP:PORT
#                         127.0.0.1:HOST_PORT on the machine -> IP:PORT inside the node's namespace
#                         (e.g. a Service's ClusterIP, so kube-proxy balances each connection)
#   node.sh reach DIR PORT
#                         127.0.0.1:PORT inside the namespace -> 127.0.0.1:PORT on the machine (e.g. a
#                         registry on the machine, for containerd's pulls)
#   node.sh sshd DIR HOST_PORT AUTHORIZED_KEYS
#                         an sshd for root inside the namespace (keys only, these keys), reached at
#                         127.0.0.1:HOST_PORT on the machine: how Ansible (make certs) gets onto the node
#   node.sh import DIR ARCHIVE...   `ctr images import` image archives into the node's containerd
#   node.sh ctr DIR ARGS...         run ctr against the node's containerd (namespace k8s.io)
#   node.sh down DIR      stop everything started by `up`, remove the namespace, mounts, cgroups and DIR
#
# `up` needs (root): CLUSTER_ENV, the control plane's cluster.env (deploy/cluster/cluster.sh up writes it:
# kubeconfig, binaries, CA), and NODE_BUILD (coredns, pause.tar: deploy/cluster/node/build.sh prints it).
# Optional: CERTS_D (containerd's registry hosts dir, config_path, default DIR/certs.d: point make certs'
# registry_ca_containerd_certs_dir at it), NODE_NAME (default localhost).
#
# The node shares the machine's file system (only its network is its own), so everything it writes lives
# under DIR: containerd's root, state and config, certs.d, the kubelet's root.
#
# How the namespace talks to the machine (docs/DEPLOYMENT-GUIDE.md, "The test node"): only through unix
# sockets under DIR, bridged by socat on both sides — no veth to the host, no routes, no host addresses.
#   kubelet, kube-proxy, CoreDNS -> 127.0.0.1:<API port> in the namespace -> api.sock -> the API server;
#   the API server (logs, exec, port-forward) -> <NODE_NAME>:<kubelet port> on the machine -> kubelet.sock
#   -> the kubelet in the namespace (NODE_NAME must resolve to loopback on the machine: localhost does).
# The kubelet authenticates as system:node:<NODE_NAME> (cluster.sh node-credentials) and serves with a
# certificate from the cluster CA, which the API server verifies; kube-proxy and CoreDNS use the admin
# kubeconfig (a test node: no separate RBAC for them).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
NODE_IP=10.243.0.1      # the node's address, on a veth pair that stays inside the namespace
NODE_CIDR=10.243.0.1/24
NODE_POD_CIDR=10.244.0.0/24  # the CNI bridge cni0 (gateway 10.244.0.1) and the pods
CLUSTER_DOMAIN=cluster.local

die() { echo "node.sh: $*" >&2; exit 1; }
log() { printf '[node %s] %s\n' "$(date -u +%T)" "$*" >&2; }

usage() {
    sed -n '6,19p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# ---- helpers --------------------------------------------------------------------------------------------
# node.env sets NS, CGROUP_ROOT, NODE_NAME, KUBELET_PORT, API_PORT, KUBECONFIG, CLUSTER_BIN.
# shellcheck disable=SC2153
load() {
    [[ -f $DIR/node.env ]] || die "$DIR/node.env missing: no node was started with 'node.sh up $DIR'"
    # shellcheck source=/dev/null
    . "$DIR/node.env"
}

in_ns() { nsenter --net="/run/netns/$NS" "$@"; }

# start NAME CMD...: a daemon in its own session, its pid in DIR/pids/NAME, its output in DIR/logs/NAME.log
start() {
    local name=$1
    shift
    setsid "$@" >"$DIR/logs/$name.log" 2>&1 < /dev/null &
    echo $! >"$DIR/pids/$name"
}

stop() { # stop NAME [SECONDS]: TERM, then KILL after SECONDS (default 10)
    local pidfile=$DIR/pids/$1 pid i
    [[ -f $pidfile ]] || return 0
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < ${2:-10} * 10; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

wait_for() { # wait_for SECONDS WHAT CMD...: retry CMD until it succeeds
    local seconds=$1 what=$2 i
    shift 2
    for ((i = 0; i < seconds * 2; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    die "$what did not come up within ${seconds}s (logs: $DIR/logs/)"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# 127.0.0.1:PORT inside the namespace -> 127.0.0.1:PORT on the machine
forward_out() {
    local port=$1 sock=$DIR/run/out-$1.sock
    start "out-$port-host" socat "UNIX-LISTEN:$sock,fork,mode=600" "TCP:127.0.0.1:$port"
    wait_for 10 "socket $sock" test -S "$sock"
    start "out-$port-ns" nsenter --net="/run/netns/$NS" \
        socat "TCP-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr" "UNIX-CONNECT:$sock"
}

# 127.0.0.1:HOST_PORT on the machine -> TARGET (ip:port) inside the namespace
forward_in() {
    local host_port=$1 target=$2 sock=$DIR/run/in-$1.sock
    start "in-$host_port-ns" nsenter --net="/run/netns/$NS" \
        socat "UNIX-LISTEN:$sock,fork,mode=600" "TCP:$target"
    wait_for 10 "socket $sock" test -S "$sock"
    start "in-$host_port-host" socat "TCP-LISTEN:$host_port,bind=127.0.0.1,fork,reuseaddr" "UNIX-CONNECT:$sock"
    wait_for 10 "127.0.0.1:$host_port" bash -c "exec 3<>/dev/tcp/127.0.0.1/$host_port"
}

ctr_() { ctr --address "$DIR/containerd/containerd.sock" --namespace k8s.io "$@"; }

# cgroup v1: one directory per hierarchy (the kubelet's cgroupRoot must exist before it starts)
cgroup_dirs() {
    local h
    for h in /sys/fs/cgroup/*/; do
        [[ -L ${h%/} ]] && continue # cpu,cpuacct style aliases
        echo "${h%/}$CGROUP_ROOT"
    done
}

# ---- up -------------------------------------------------------------------------------------------------
up() {
    [[ $(id -u) -eq 0 ]] || die "needs root (network namespace, containerd, kubelet)"
    local tool missing=()
    for tool in containerd containerd-shim-runc-v2 runc ctr socat nsenter iptables ip conntrack; do
        command -v "$tool" >/dev/null || missing+=("$tool")
    done
    [[ -x /usr/lib/cni/bridge ]] || missing+=(/usr/lib/cni/bridge)
    ((${#missing[@]} == 0)) || die "missing ${missing[*]}: apt-get install containerd runc containernetworking-plugins socat iptables iproute2 conntrack"
    [[ -f ${CLUSTER_ENV:-} ]] || die "CLUSTER_ENV must name the control plane's cluster.env (deploy/cluster/cluster.sh up writes it)"
    # shellcheck source=/dev/null
    . "$CLUSTER_ENV" # CLUSTER_DIR, CLUSTER_BIN, KUBECONFIG, API_PORT, CA_CERT, CA_KEY
    for tool in kubelet kube-proxy kubectl; do
        [[ -x $CLUSTER_BIN/$tool ]] || die "$CLUSTER_BIN/$tool missing (deploy/cluster/build.sh builds it)"
    done
    [[ -x ${NODE_BUILD:-}/coredns && -f $NODE_BUILD/pause.tar ]] ||
        die "NODE_BUILD must hold coredns and pause.tar (deploy/cluster/node/build.sh prints it)"
    [[ ! -e $DIR || -z $(ls -A "$DIR") ]] || die "$DIR is not empty: pick a new directory"
    local kubectl=$CLUSTER_BIN/kubectl
    mkdir -p "$DIR"/{pids,logs,run,containerd,cni/net.d,cni/ipam,kubelet,kubelet-pki}
    DIR=$(cd "$DIR" && pwd)
    NS=crn-$(basename "$DIR" | tr -dc 'a-zA-Z0-9' | tail -c 10)
    CGROUP_ROOT=/$NS
    cat >"$DIR/node.env" <<EOF
NS=$NS
CGROUP_ROOT=$CGROUP_ROOT
NODE_NAME=${NODE_NAME:-localhost}
KUBELET_PORT=$(free_port)
API_PORT=$API_PORT
KUBECONFIG=$KUBECONFIG
CLUSTER_BIN=$CLUSTER_BIN
EOF
    load
    getent ahostsv4 "$NODE_NAME" | grep -q '^127\.' ||
        die "NODE_NAME=$NODE_NAME does not resolve to loopback here: the API server could not reach the kubelet"

    log "network namespace $NS: node $NODE_IP, pods $NODE_POD_CIDR"
    ip netns add "$NS"
    ip -n "$NS" link set lo up
    # The node's address lives on a veth pair whose both ends stay in the namespace: a default route for
    # Service addresses (kube-proxy DNATs them), and nowhere for packets to leave to.
    ip -n "$NS" link add node0 type veth peer name node0-peer
    ip -n "$NS" addr add "$NODE_CIDR" dev node0
    ip -n "$NS" link set node0 up
    ip -n "$NS" link set node0-peer up
    ip -n "$NS" route add default dev node0
    ip netns exec "$NS" sysctl -q -w net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1

    log "API server 127.0.0.1:$API_PORT into the namespace; kubelet port $KUBELET_PORT out to the machine"
    forward_out "$API_PORT"
    forward_in "$KUBELET_PORT" "$NODE_IP:$KUBELET_PORT"

    local d
    for d in $(cgroup_dirs); do
        mkdir -p "$d"
        if [[ -f $d/cpuset.cpus ]]; then
            cat "$(dirname "$d")/cpuset.cpus" >"$d/cpuset.cpus"
            cat "$(dirname "$d")/cpuset.mems" >"$d/cpuset.mems"
        fi
    done

    log "containerd $(containerd --version | awk '{print $3}'), runc $(runc --version | awk 'NR==1{print $3}')"
    sed -e "s|@STATE@|$DIR|g" -e "s|@PAUSE_IMAGE@|$(cat "$NODE_BUILD/pause.image")|g" \
        -e "s|@CERTS_D@|${CERTS_D:-$DIR/certs.d}|g" "$here/containerd.toml" >"$DIR/containerd/config.toml"
    start containerd nsenter --net="/run/netns/$NS" containerd --config "$DIR/containerd/config.toml"
    wait_for 30 containerd ctr_ version
    ctr_ images import --no-unpack "$NODE_BUILD/pause.tar" >/dev/null

    cat >"$DIR/cni/net.d/10-crypto-rates.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "crypto-rates-node",
  "plugins": [
    {
      "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": {"type": "host-local", "ranges": [[{"subnet": "$NODE_POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}],
               "dataDir": "$DIR/cni/ipam"}
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF

    # Pods ask CoreDNS (on the node's address) for cluster names; nothing else is resolved.
    printf 'nameserver %s\n' "$NODE_IP" >"$DIR/resolv.conf"
    cat >"$DIR/Corefile" <<EOF
.:53 {
    errors
    health 127.0.0.1:18080
    ready 127.0.0.1:18181
    cache 5
    kubernetes $CLUSTER_DOMAIN in-addr.arpa ip6.arpa {
        kubeconfig $KUBECONFIG
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
}
EOF
    start coredns nsenter --net="/run/netns/$NS" "$NODE_BUILD/coredns" -conf "$DIR/Corefile"

    # The kubelet's identity (system:node:NAME) and its serving certificate from the cluster CA: the API
    # server checks it (--kubelet-certificate-authority) when it calls the kubelet for logs, exec, ports.
    local kubelet_kubeconfig pki=$DIR/kubelet-pki
    kubelet_kubeconfig=$("$here/../cluster.sh" node-credentials "$CLUSTER_DIR" "$NODE_NAME" | tail -n 1)
    openssl genpkey -quiet -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki/kubelet.key"
    openssl req -new -key "$pki/kubelet.key" -subj "/O=system:nodes/CN=system:node:$NODE_NAME" -out "$pki/kubelet.csr"
    openssl x509 -req -in "$pki/kubelet.csr" -CA "$CA_CERT" -CAkey "$CA_KEY" -CAcreateserial -CAserial "$pki/ca.srl" \
        -days 7 -out "$pki/kubelet.crt" -extfile <(printf '%s\n' "keyUsage=critical,digitalSignature,keyEncipherment" \
        "extendedKeyUsage=serverAuth" "subjectAltName=DNS:$NODE_NAME,IP:127.0.0.1,IP:$NODE_IP") 2>/dev/null
    chmod 600 "$pki/kubelet.key"
    cat >"$DIR/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: $KUBELET_PORT
readOnlyPort: 0
tlsCertFile: $pki/kubelet.crt
tlsPrivateKeyFile: $pki/kubelet.key
healthzBindAddress: 127.0.0.1
healthzPort: 10248
containerRuntimeEndpoint: unix://$DIR/containerd/containerd.sock
# cgroup v1 (this machine): Kubernetes 1.34 still runs on it when failCgroupV1 is false; 1.35 refuses it.
cgroupDriver: cgroupfs
cgroupRoot: $CGROUP_ROOT
failCgroupV1: false
failSwapOn: false
clusterDNS: [$NODE_IP]
clusterDomain: $CLUSTER_DOMAIN
resolvConf: $DIR/resolv.conf
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $CA_CERT}
authorization:
  mode: Webhook
serializeImagePulls: false
maxPods: 30
# A test machine's disk is shared: evict only when it is really full, and never collect the pause image.
evictionHard: {memory.available: 100Mi, nodefs.available: 2%, imagefs.available: 2%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
EOF
    log "kubelet $("$CLUSTER_BIN/kubelet" --version | awk '{print $2}') as node $NODE_NAME"
    start kubelet nsenter --net="/run/netns/$NS" "$CLUSTER_BIN/kubelet" \
        --config "$DIR/kubelet.yaml" --kubeconfig "$kubelet_kubeconfig" --root-dir "$DIR/kubelet" \
        --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --v 1

    cat >"$DIR/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $KUBECONFIG}
hostnameOverride: $NODE_NAME
mode: iptables
clusterCIDR: $NODE_POD_CIDR
bindAddress: $NODE_IP
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# conntrack limits are machine-wide: leave them as they are.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {localhostNodePorts: false}
EOF
    start kube-proxy nsenter --net="/run/netns/$NS" "$CLUSTER_BIN/kube-proxy" --config "$DIR/kube-proxy.yaml" --v 1

    wait_for 120 "node $NODE_NAME Ready" bash -c \
        "[[ \$('$kubectl' --kubeconfig '$KUBECONFIG' get node '$NODE_NAME' -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}') == True ]]"
    wait_for 60 "CoreDNS" in_ns bash -c 'exec 3<>/dev/tcp/127.0.0.1/18181 && printf "GET /ready HTTP/1.0\r\n\r\n" >&3 && grep -q "^HTTP/1.[01] 200" <&3'
    log "node $NODE_NAME Ready (state in $DIR)"
}

# ---- sshd ---------------------------------------------------------------------------------------------
# Root login with the given keys only, on 127.0.0.1:22 inside the namespace. StrictModes is off because
# DIR sits under /tmp (world-writable), which sshd's ownership check of the key file's parents refuses.
sshd_() {
    local host_port=$1 keys=$2 ssh=$DIR/ssh
    [[ -f $keys ]] || die "AUTHORIZED_KEYS=$keys does not exist"
    command -v /usr/sbin/sshd >/dev/null || die "missing /usr/sbin/sshd: apt-get install openssh-server"
    mkdir -p "$ssh" /run/sshd
    install -m 600 "$keys" "$ssh/authorized_keys"
    [[ -f $ssh/host_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -f "$ssh/host_ed25519"
    start sshd nsenter --net="/run/netns/$NS" /usr/sbin/sshd -D -e -f /dev/null \
        -o ListenAddress=127.0.0.1:22 -o HostKey="$ssh/host_ed25519" -o PidFile="$ssh/sshd.pid" \
        -o AuthorizedKeysFile="$ssh/authorized_keys" -o StrictModes=no -o PermitRootLogin=prohibit-password \
        -o PasswordAuthentication=no -o KbdInteractiveAuthentication=no -o "Subsystem=sftp internal-sftp"
    forward_in "$host_port" 127.0.0.1:22
}

# ---- down -----------------------------------------------------------------------------------------------
down() {
    [[ -f $DIR/node.env ]] || { rm -rf "$DIR"; return 0; }
    load
    log "stopping node $NODE_NAME ($NS)"
    stop kubelet 15
    stop kube-proxy
    stop coredns
    # The containers: every process in this node's cgroups, then containerd and its shims.
    local d pid sock=$DIR/containerd/containerd.sock
    for d in $(cgroup_dirs); do
        [[ -d $d ]] && find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null
    done | sort -u | xargs -r kill -KILL 2>/dev/null || true
    stop containerd
    for pid in $(pgrep -f containerd-shim-runc-v2 || true); do
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-address $sock " && kill -KILL "$pid"
    done
    for name in "$DIR"/pids/*; do [[ -e $name ]] && stop "$(basename "$name")" 2; done
    findmnt -rno TARGET | grep -F "$DIR/" | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    for d in $(cgroup_dirs); do
        [[ -d $d ]] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
    done
    ip netns del "$NS" 2>/dev/null || true
    rm -rf --one-file-system "$DIR"
    log "node stopped, $DIR removed"
}

# ---- main -----------------------------------------------------------------------------------------------
[[ $# -ge 2 ]] || usage
cmd=$1
DIR=$2
shift 2
case $cmd in
    up) up ;;
    down) down ;;
    forward)
        [[ $# -eq 2 && $1 =~ ^[0-9]+$ && $2 =~ ^[0-9.]+:[0-9]+$ ]] || die "usage: node.sh forward DIR HOST_PORT IP:PORT"
        load
        forward_in "$1" "$2"
        ;;
    reach)
        [[ $# -eq 1 && $1 =~ ^[0-9]+$ ]] || die "usage: node.sh reach DIR PORT"
        load
        forward_out "$1"
        ;;
    sshd)
        [[ $# -eq 2 && $1 =~ ^[0-9]+$ ]] || die "usage: node.sh sshd DIR HOST_PORT AUTHORIZED_KEYS"
        load
        sshd_ "$1" "$2"
        ;;
    import)
        load
        for archive in "$@"; do ctr_ images import "$archive"; done
        ;;
    ctr)
        load
        ctr_ "$@"
        ;;
    *) die "unknown command '$cmd': use up, forward, reach, sshd, import, ctr or down" ;;
esac

#!/usr/bin/env bash
# A Kubernetes control plane on 127.0.0.1, built from source by build.sh: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler. No node (deploy/cluster/README.md says how to add one).
#
#   deploy/cluster/cluster.sh up DIR      # certificates, keys, configs, logs and data all under DIR
#   deploy/cluster/cluster.sh down DIR    # stop every process started by `up DIR` and delete DIR
#   deploy/cluster/cluster.sh node-credentials DIR NODE   # kubeconfig for the kubelet of node NODE
#
# `up` writes DIR/cluster.env (KUBECONFIG, the binaries, the CA, the ports, the CIDRs: see README.md)
# and returns once the API server is ready and the controllers run. Ports are picked free at start.
# Knobs (environment): CLUSTER_BIN (binaries; default: build.sh's output), CLUSTER_SERVICE_CIDR,
# CLUSTER_POD_CIDR (set: the controller-manager allocates node pod CIDRs from it),
# CLUSTER_ADVERTISE_ADDRESS, CLUSTER_APISERVER_ARGS / CLUSTER_CONTROLLER_MANAGER_ARGS /
# CLUSTER_SCHEDULER_ARGS (extra flags, space-separated).
set -Eeuo pipefail

here=$(cd "$(dirname "$0")" && pwd)

usage() {
    echo "usage: $0 up DIR | down DIR | node-credentials DIR NODE_NAME" >&2
    exit 2
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- certificates --------------------------------------------------------------------------------

# cert NAME CN [O] [SERVER_SANS]: pki/NAME.{key,crt} signed by pki/ca; SANs make it a serving cert.
cert() {
    local pki=$1/pki name=$2 cn=$3 org=${4:-} sans=${5:-} subj ext
    subj="/CN=$cn"
    [[ -n $org ]] && subj="/O=$org$subj"
    ext=$(mktemp)
    if [[ -n $sans ]]; then
        printf 'keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=%s\n' "$sans" > "$ext"
    else
        printf 'keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' > "$ext"
    fi
    openssl genpkey -quiet -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki/$name.key"
    openssl req -new -key "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr"
    openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
        -days 7 -extfile "$ext" -out "$pki/$name.crt" 2>/dev/null
    rm -f "$ext" "$pki/$name.csr"
    chmod 600 "$pki/$name.key"
}

# kubeconfig DIR NAME: DIR/NAME.kubeconfig authenticating with pki/NAME.{crt,key}.
kubeconfig() {
    local dir=$1 name=$2
    cat > "$dir/$name.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: local
    cluster:
      server: https://127.0.0.1:$API_PORT
      certificate-authority: $dir/pki/ca.crt
users:
  - name: $name
    user:
      client-certificate: $dir/pki/$name.crt
      client-key: $dir/pki/$name.key
contexts:
  - name: local
    context: {cluster: local, user: $name}
current-context: local
EOF
    chmod 600 "$dir/$name.kubeconfig"
}

# --- processes -----------------------------------------------------------------------------------

# start DIR NAME CMD...: run in its own session, log to DIR/logs/NAME.log, pid in DIR/run/NAME.pid
start() {
    local dir=$1 name=$2
    shift 2
    setsid "$@" > "$dir/logs/$name.log" 2>&1 < /dev/null &
    echo $! > "$dir/run/$name.pid"
}

# wait_for DIR WHAT TRIES CMD...: retry CMD once a second; on time-out show the logs and fail
wait_for() {
    local dir=$1 what=$2 tries=$3 i
    shift 3
    for ((i = 0; i < tries; i++)); do
        "$@" > /dev/null 2>&1 && return 0
        for pidfile in "$dir"/run/*.pid; do
            kill -0 "$(cat "$pidfile")" 2> /dev/null && continue
            name=$(basename "$pidfile" .pid)
            echo "cluster.sh: $name exited while waiting for $what; its log ends:" >&2
            tail -n 30 "$dir/logs/$name.log" >&2
            return 1
        done
        sleep 1
    done
    echo "cluster.sh: $what not ready after ${tries}s; logs in $dir/logs" >&2
    tail -n 20 "$dir"/logs/*.log >&2
    return 1
}

healthz() { curl -fsk --max-time 2 "https://127.0.0.1:$1/healthz"; }

up() {
    local dir=$1
    [[ -e $dir/cluster.env ]] && { echo "cluster.sh: $dir already holds a cluster (run: $0 down $dir)" >&2; exit 1; }
    local bin=${CLUSTER_BIN:-}
    [[ -n $bin ]] || bin=$("$here/build.sh" | tail -n 1)
    for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl; do
        [[ -x $bin/$b ]] || { echo "cluster.sh: $bin/$b missing (run deploy/cluster/build.sh)" >&2; exit 1; }
    done
    mkdir -p "$dir"/{pki,logs,run,etcd}
    dir=$(cd "$dir" && pwd)
    chmod 700 "$dir"
    trap 'echo "cluster.sh: start failed; stopping what started" >&2; down "$dir" keep' ERR

    local service_cidr=${CLUSTER_SERVICE_CIDR:-10.96.0.0/16} advertise=${CLUSTER_ADVERTISE_ADDRESS:-127.0.0.1}
    local service_ip # the first address of the service range: the `kubernetes` Service
    service_ip=$(python3 -c 'import ipaddress, sys; print(ipaddress.ip_network(sys.argv[1])[1])' "$service_cidr")
    API_PORT=$(free_port)
    local etcd_port etcd_peer_port cm_port sched_port
    etcd_port=$(free_port) etcd_peer_port=$(free_port) cm_port=$(free_port) sched_port=$(free_port)

    # A CA, a serving cert for the API server, client certs for each component and the admin,
    # the service-account signing key pair.
    local pki=$dir/pki
    openssl genpkey -quiet -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki/ca.key"
    openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=crypto-rates-test-ca" -days 7 \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$pki/ca.crt"
    chmod 600 "$pki/ca.key"
    cert "$dir" apiserver kube-apiserver "" \
        "IP:127.0.0.1,IP:$advertise,IP:$service_ip,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
    cert "$dir" apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
    cert "$dir" admin admin system:masters
    cert "$dir" controller-manager system:kube-controller-manager
    cert "$dir" scheduler system:kube-scheduler
    openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$pki/sa.key"
    openssl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
    chmod 600 "$pki/sa.key"
    for name in admin controller-manager scheduler; do kubeconfig "$dir" "$name"; done

    start "$dir" etcd "$bin/etcd" --name default --data-dir "$dir/etcd" \
        --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
        --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" \
        --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
        --initial-cluster "default=http://127.0.0.1:$etcd_peer_port" \
        --unsafe-no-fsync --log-level warn
    wait_for "$dir" etcd 30 curl -fs --max-time 2 "http://127.0.0.1:$etcd_port/health"

    # shellcheck disable=SC2086 # the *_ARGS knobs are word lists
    start "$dir" kube-apiserver "$bin/kube-apiserver" \
        --etcd-servers "http://127.0.0.1:$etcd_port" \
        --bind-address 127.0.0.1 --secure-port "$API_PORT" --advertise-address "$advertise" \
        --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
        --client-ca-file "$pki/ca.crt" \
        --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" \
        --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
        --kubelet-certificate-authority "$pki/ca.crt" \
        --service-account-issuer https://kubernetes.default.svc.cluster.local \
        --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
        --service-cluster-ip-range "$service_cidr" \
        --authorization-mode Node,RBAC \
        --enable-admission-plugins NodeRestriction,PodSecurity \
        --enable-bootstrap-token-auth \
        --allow-privileged \
        --endpoint-reconciler-type "$([[ $advertise == 127.* ]] && echo none || echo lease)" \
        --profiling=false \
        ${CLUSTER_APISERVER_ARGS:-}
    wait_for "$dir" kube-apiserver 120 "$bin/kubectl" --kubeconfig "$dir/admin.kubeconfig" get --raw /readyz

    local node_cidr_args=(--allocate-node-cidrs=false)
    [[ -n ${CLUSTER_POD_CIDR:-} ]] && node_cidr_args=(--allocate-node-cidrs=true --cluster-cidr "$CLUSTER_POD_CIDR")
    # shellcheck disable=SC2086
    start "$dir" kube-controller-manager "$bin/kube-controller-manager" \
        --kubeconfig "$dir/controller-manager.kubeconfig" \
        --authentication-kubeconfig "$dir/controller-manager.kubeconfig" \
        --authorization-kubeconfig "$dir/controller-manager.kubeconfig" \
        --bind-address 127.0.0.1 --secure-port "$cm_port" --leader-elect=false \
        --root-ca-file "$pki/ca.crt" --service-account-private-key-file "$pki/sa.key" \
        --use-service-account-credentials \
        --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
        --controllers '*,bootstrapsigner,tokencleaner' \
        --service-cluster-ip-range "$service_cidr" "${node_cidr_args[@]}" \
        --profiling=false \
        ${CLUSTER_CONTROLLER_MANAGER_ARGS:-}
    # shellcheck disable=SC2086
    start "$dir" kube-scheduler "$bin/kube-scheduler" \
        --kubeconfig "$dir/scheduler.kubeconfig" \
        --authentication-kubeconfig "$dir/scheduler.kubeconfig" \
        --authorization-kubeconfig "$dir/scheduler.kubeconfig" \
        --bind-address 127.0.0.1 --secure-port "$sched_port" --leader-elect=false \
        --profiling=false \
        ${CLUSTER_SCHEDULER_ARGS:-}
    wait_for "$dir" kube-controller-manager 60 healthz "$cm_port"
    wait_for "$dir" kube-scheduler 60 healthz "$sched_port"
    # The service-account controller has run once the default namespace has its ServiceAccount.
    wait_for "$dir" "the default ServiceAccount" 60 \
        "$bin/kubectl" --kubeconfig "$dir/admin.kubeconfig" get serviceaccount default -n default

    cat > "$dir/cluster.env" <<EOF
# Written by deploy/cluster/cluster.sh up; shell and Python (key=value) readable.
CLUSTER_DIR=$dir
CLUSTER_BIN=$bin
KUBECONFIG=$dir/admin.kubeconfig
API_SERVER=https://127.0.0.1:$API_PORT
API_PORT=$API_PORT
ADVERTISE_ADDRESS=$advertise
CA_CERT=$pki/ca.crt
CA_KEY=$pki/ca.key
SERVICE_CIDR=$service_cidr
SERVICE_IP=$service_ip
POD_CIDR=${CLUSTER_POD_CIDR:-}
ETCD_PORT=$etcd_port
EOF
    trap - ERR
    echo "cluster.sh: API server https://127.0.0.1:$API_PORT ready; KUBECONFIG=$dir/admin.kubeconfig" >&2
}

# down DIR [keep]: TERM every started process, KILL what is left after 10 s, delete DIR
down() {
    local dir=$1 keep=${2:-} pidfile pid i
    [[ -d $dir ]] || return 0
    for pidfile in "$dir"/run/*.pid; do
        [[ -f $pidfile ]] || continue
        pid=$(cat "$pidfile")
        # each component leads its own session: signal the whole group
        kill -TERM -- "-$pid" 2> /dev/null || true
    done
    for pidfile in "$dir"/run/*.pid; do
        [[ -f $pidfile ]] || continue
        pid=$(cat "$pidfile")
        for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
        kill -KILL -- "-$pid" 2> /dev/null || true
        rm -f "$pidfile"
    done
    [[ -n $keep ]] || rm -rf "$dir"
}

node_credentials() {
    local dir=$1 node=$2
    # shellcheck source=/dev/null
    . "$dir/cluster.env"
    cert "$dir" "node-$node" "system:node:$node" system:nodes
    kubeconfig "$dir" "node-$node"
    echo "$dir/node-$node.kubeconfig"
}

case ${1:-} in
    up) [[ $# -eq 2 ]] || usage; up "$2" ;;
    down) [[ $# -eq 2 ]] || usage; down "$2" ;;
    node-credentials) [[ $# -eq 3 ]] || usage; node_credentials "$2" "$3" ;;
    *) usage ;;
esac

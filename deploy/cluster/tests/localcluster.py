"""The local Kubernetes the cluster tests run on: a control plane on 127.0.0.1 and a real node in a
network namespace, built from source by deploy/cluster/build.sh and node/build.sh.

    ControlPlane(DIR).up()   etcd, kube-apiserver, kube-controller-manager, kube-scheduler; all
                             state under DIR; DIR/cluster.env names the kubeconfig, binaries,
                             CA and ports
    KubeNode(DIR).up(...)    containerd + runc + CNI bridge, kubelet, kube-proxy, CoreDNS and the
                             NetworkPolicy engine kube-network-policies inside a network namespace,
                             joined to the control plane
    .down()                  stops what `up` started and removes DIR; `up` calls it itself when it
                             fails, so a failed start leaves no process, namespace or mount behind

`make cluster-up` / `make cluster-down` run the control plane from the command line:
`python -m localcluster up|down DIR` (PYTHONPATH=backend:deploy/cluster/tests). Each daemon runs in
its own session, logs to DIR/logs/<name>.log and leaves its pid in DIR/run/<name>.pid, so `down`
works from another process too. Configuration files are templates in deploy/cluster/templates/.

How the node's namespace talks to the machine (docs/DEPLOYMENT-GUIDE.md, "The test node"): only
through unix sockets under DIR, bridged by socat on both sides: no veth to the host, no routes.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from string import Template

from testkit.deploy import run
from testkit.processes import free_port, log_tail, wait_until

CLUSTER_DIR = Path(__file__).resolve().parents[1]
TEMPLATES = CLUSTER_DIR / "templates"


# ---- commands, templates, certificates ----------------------------------------------------------


def succeeds(*command: str | Path, timeout: float = 10) -> bool:
    """True if the command exits 0 within `timeout`: a readiness probe."""
    try:
        done = subprocess.run(
            [str(part) for part in command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def render(template: str, dest: Path, mode: int = 0o644, **values: object) -> Path:
    """deploy/cluster/templates/TEMPLATE with its ${names} filled in, written to DEST."""
    text = Template((TEMPLATES / template).read_text()).substitute(
        {key: str(value) for key, value in values.items()}
    )
    dest.write_text(text)
    dest.chmod(mode)
    return dest


def new_key(path: Path, rsa: bool = False) -> Path:
    algorithm = ["RSA", "-pkeyopt", "rsa_keygen_bits:2048"] if rsa else ["EC", "-pkeyopt"]
    if not rsa:
        algorithm.append("ec_paramgen_curve:P-256")
    run("openssl", "genpkey", "-quiet", "-algorithm", *algorithm, "-out", path)
    path.chmod(0o600)
    return path


def issue(
    ca: tuple[Path, Path], pki: Path, name: str, subject: str, sans: str = "", server: bool = False
) -> tuple[Path, Path]:
    """PKI/NAME.key and PKI/NAME.crt for SUBJECT (`/O=group/CN=user`), signed by CA (crt, key),
    valid 7 days; a client certificate, or a serving one (also client) with SERVER or SANS."""
    key = new_key(pki / f"{name}.key")
    csr, crt, ext = pki / f"{name}.csr", pki / f"{name}.crt", pki / f"{name}.ext"
    usage = "serverAuth,clientAuth" if server or sans else "clientAuth"
    lines = ["keyUsage=critical,digitalSignature,keyEncipherment", f"extendedKeyUsage={usage}"]
    ext.write_text("\n".join([*lines, f"subjectAltName={sans}"] if sans else lines) + "\n")
    run("openssl", "req", "-new", "-key", key, "-subj", subject, "-out", csr)
    run(
        "openssl", "x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1],
        "-set_serial", f"0x{secrets.token_hex(16)}", "-days", "7", "-extfile", ext, "-out", crt,
    )  # fmt: skip
    csr.unlink()
    ext.unlink()
    return crt, key


def port_open(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        return True


def read_env(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (cluster.env, versions.env); comments and blank lines skipped."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs if not k.lstrip().startswith("#")}


# ---- daemons ------------------------------------------------------------------------------------


def alive(pid: int) -> bool:
    """Whether PID still runs; reaps it if it is an exited child of this process."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass  # not our child (started by another `up`), or reaped already
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class DaemonExited(RuntimeError):
    pass


@dataclass
class Daemons:
    """The long-running processes of one cluster part, all state under `dir`: each in its own
    session, its output in dir/logs/NAME.log, its pid in dir/run/NAME.pid."""

    dir: Path
    who: str  # "control plane", "node": how errors name this part

    def start(self, name: str, *command: str | Path) -> None:
        (self.dir / "logs").mkdir(parents=True, exist_ok=True)
        (self.dir / "run").mkdir(parents=True, exist_ok=True)
        with (self.dir / "logs" / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                [str(part) for part in command],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        (self.dir / "run" / f"{name}.pid").write_text(str(process.pid))

    def pids(self) -> dict[str, int]:
        return {
            path.name.removesuffix(".pid"): int(path.read_text())
            for path in sorted((self.dir / "run").glob("*.pid"))
        }

    def log(self, name: str, chars: int = 2500) -> str:
        path = self.dir / "logs" / f"{name}.log"
        return f"--- {path} ---\n{log_tail(path, chars)}"

    def wait(self, what: str, check: Callable[[], object], timeout_s: float) -> None:
        """Poll CHECK until it is truthy; fail early, with its log, if a daemon exits meanwhile,
        and after TIMEOUT_S with every log's tail."""

        def ready() -> object:
            for name, pid in self.pids().items():
                if not alive(pid):
                    raise DaemonExited(name)
            return check()

        try:
            wait_until(what, ready, timeout_s, interval_s=0.5)
        except DaemonExited as exited:
            name = str(exited)
            raise RuntimeError(
                f"{self.who}: {name} exited while waiting for {what}\n{self.log(name)}"
            ) from None
        except TimeoutError:
            logs = "\n".join(self.log(name, 800) for name in self.pids())
            raise RuntimeError(
                f"{self.who}: {what} not ready after {timeout_s:g} s\n{logs}"
            ) from None

    def stop(self, names: Sequence[str] | None = None, timeout_s: float = 10) -> None:
        """TERM the named daemons' process groups (default: all), KILL the rest TIMEOUT_S later."""
        pids = {n: p for n, p in self.pids().items() if names is None or n in names}
        for pid in pids.values():
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for name, pid in pids.items():
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            while alive(pid) and time.monotonic() < deadline + 5:
                time.sleep(0.05)
            (self.dir / "run" / f"{name}.pid").unlink(missing_ok=True)


# ---- the control plane --------------------------------------------------------------------------


def built_binaries(tool: str = "") -> Path:
    """deploy/cluster/build.sh's output (it builds once, then answers from its cache): the
    Kubernetes binaries, or TOOL's (kube-network-policies, cosign)."""
    command: list[str | Path] = [CLUSTER_DIR / "build.sh", *([tool] if tool else [])]
    return Path(run(*command, timeout=3600).stdout.splitlines()[-1])


@dataclass
class ControlPlane:
    """etcd, kube-apiserver, kube-controller-manager and kube-scheduler on 127.0.0.1; state in dir.

    Knobs: `service_cidr`; `pod_cidr` (set: the controller-manager allocates node pod CIDRs from
    it); `advertise` (a non-loopback address turns the `kubernetes` Service's endpoints on);
    `extra_args` per component name (a flag given again wins)."""

    dir: Path
    service_cidr: str = "10.96.0.0/16"
    pod_cidr: str = ""
    advertise: str = "127.0.0.1"
    extra_args: dict[str, list[str]] | None = None

    def __post_init__(self) -> None:
        self.dir = self.dir.absolute()
        self.daemons = Daemons(self.dir, "control plane")

    @property
    def env_file(self) -> Path:
        return self.dir / "cluster.env"

    def up(self, bin_dir: Path | None = None) -> dict[str, str]:
        """Start and wait until the API server is ready and the controllers run; cluster.env's
        settings. On failure everything started is stopped (the logs stay in dir/logs)."""
        if self.env_file.exists():
            raise RuntimeError(f"{self.dir} already holds a cluster (run: down {self.dir})")
        bin_dir = bin_dir or built_binaries()
        for tool in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
            if not (bin_dir / tool).is_file():
                raise RuntimeError(f"{bin_dir / tool} missing (run deploy/cluster/build.sh)")
        for sub in ("pki", "etcd"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o700)
        try:
            return self._start(bin_dir)
        except BaseException:
            self.daemons.stop()
            raise

    def _start(self, bin_dir: Path) -> dict[str, str]:
        d, pki = self.dir, self.dir / "pki"
        service_ip = str(ipaddress.ip_network(self.service_cidr)[1])  # the `kubernetes` Service
        api_port, etcd_port, peer_port, cm_port, sched_port = (free_port() for _ in range(5))
        ca = (pki / "ca.crt", new_key(pki / "ca.key"))
        run(
            "openssl", "req", "-x509", "-new", "-key", ca[1], "-subj", "/CN=crypto-rates-test-ca",
            "-days", "7", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", ca[0],
        )  # fmt: skip
        sans = f"IP:127.0.0.1,IP:{self.advertise},IP:{service_ip},DNS:localhost,DNS:kubernetes"
        for suffix in ("default", "default.svc", "default.svc.cluster.local"):
            sans += f",DNS:kubernetes.{suffix}"
        apiserver = issue(ca, pki, "apiserver", "/CN=kube-apiserver", sans)
        kubelet_client = issue(
            ca,
            pki,
            "apiserver-kubelet-client",
            "/O=system:masters/CN=kube-apiserver-kubelet-client",
        )
        sa_key = new_key(pki / "sa.key", rsa=True)
        run("openssl", "pkey", "-in", sa_key, "-pubout", "-out", pki / "sa.pub")
        kubeconfigs = {
            user: self._kubeconfig(api_port, user, issue(ca, pki, user, subject))
            for user, subject in (
                ("admin", "/O=system:masters/CN=admin"),
                ("controller-manager", "/CN=system:kube-controller-manager"),
                ("scheduler", "/CN=system:kube-scheduler"),
            )
        }
        extra = self.extra_args or {}
        local = "http://127.0.0.1"

        self.daemons.start(
            "etcd", bin_dir / "etcd", "--name", "default", "--data-dir", d / "etcd",
            "--listen-client-urls", f"{local}:{etcd_port}",
            "--advertise-client-urls", f"{local}:{etcd_port}",
            "--listen-peer-urls", f"{local}:{peer_port}",
            "--initial-advertise-peer-urls", f"{local}:{peer_port}",
            "--initial-cluster", f"default={local}:{peer_port}",
            "--unsafe-no-fsync", "--log-level", "warn",
        )  # fmt: skip
        self.daemons.wait(
            "etcd", lambda: succeeds("curl", "-fs", f"{local}:{etcd_port}/health"), 30
        )

        reconciler = "none" if self.advertise.startswith("127.") else "lease"
        self.daemons.start(
            "kube-apiserver", bin_dir / "kube-apiserver",
            "--etcd-servers", f"{local}:{etcd_port}",
            "--bind-address", "127.0.0.1", "--secure-port", str(api_port),
            "--advertise-address", self.advertise,
            "--tls-cert-file", apiserver[0], "--tls-private-key-file", apiserver[1],
            "--client-ca-file", ca[0],
            "--kubelet-client-certificate", kubelet_client[0],
            "--kubelet-client-key", kubelet_client[1],
            "--kubelet-certificate-authority", ca[0],
            "--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
            "--service-account-key-file", pki / "sa.pub",
            "--service-account-signing-key-file", sa_key,
            "--service-cluster-ip-range", self.service_cidr,
            "--authorization-mode", "Node,RBAC",
            "--enable-admission-plugins", "NodeRestriction,PodSecurity",
            "--enable-bootstrap-token-auth", "--allow-privileged",
            "--endpoint-reconciler-type", reconciler, "--profiling=false",
            *extra.get("kube-apiserver", []),
        )  # fmt: skip
        kubectl: list[str | Path] = [bin_dir / "kubectl", "--kubeconfig", kubeconfigs["admin"]]
        self.daemons.wait(
            "kube-apiserver", lambda: succeeds(*kubectl, "get", "--raw", "/readyz"), 120
        )

        node_cidrs = ["--allocate-node-cidrs=false"]
        if self.pod_cidr:
            node_cidrs = ["--allocate-node-cidrs=true", "--cluster-cidr", self.pod_cidr]
        flags_of: tuple[tuple[str, int, list[str | Path]], ...] = (
            (
                "kube-controller-manager",
                cm_port,
                [
                    "--root-ca-file", ca[0], "--service-account-private-key-file", sa_key,
                    "--use-service-account-credentials",
                    "--cluster-signing-cert-file", ca[0], "--cluster-signing-key-file", ca[1],
                    "--controllers", "*,bootstrapsigner,tokencleaner",
                    "--service-cluster-ip-range", self.service_cidr, *node_cidrs,
                ],
            ),
            ("kube-scheduler", sched_port, []),
        )  # fmt: skip
        for name, port, flags in flags_of:
            config = kubeconfigs[name.removeprefix("kube-")]
            self.daemons.start(
                name, bin_dir / name, "--kubeconfig", config,
                "--authentication-kubeconfig", config, "--authorization-kubeconfig", config,
                "--bind-address", "127.0.0.1", "--secure-port", str(port),
                "--leader-elect=false", "--profiling=false", *flags, *extra.get(name, []),
            )  # fmt: skip
        for name, port in (("kube-controller-manager", cm_port), ("kube-scheduler", sched_port)):
            url = f"https://127.0.0.1:{port}/healthz"
            self.daemons.wait(name, partial(succeeds, "curl", "-fsk", url), 60)
        # The service-account controller has run once the default namespace has its ServiceAccount.
        self.daemons.wait(
            "the default ServiceAccount",
            lambda: succeeds(*kubectl, "get", "serviceaccount", "default", "-n", "default"),
            60,
        )

        env = {
            "CLUSTER_DIR": str(d),
            "CLUSTER_BIN": str(bin_dir),
            "KUBECONFIG": str(kubeconfigs["admin"]),
            "API_SERVER": f"https://127.0.0.1:{api_port}",
            "API_PORT": str(api_port),
            "ADVERTISE_ADDRESS": self.advertise,
            "CA_CERT": str(ca[0]),
            "CA_KEY": str(ca[1]),
            "SERVICE_CIDR": self.service_cidr,
            "SERVICE_IP": service_ip,
            "POD_CIDR": self.pod_cidr,
            "ETCD_PORT": str(etcd_port),
        }
        lines = [f"{key}={value}" for key, value in env.items()]
        header = "# Written by deploy/cluster/tests/localcluster.py; shell and Python readable.\n"
        self.env_file.write_text(header + "\n".join(lines) + "\n")
        return env

    def _kubeconfig(self, api_port: int | str, user: str, cert: tuple[Path, Path]) -> Path:
        return render(
            "kubeconfig.yaml", self.dir / f"{user}.kubeconfig", mode=0o600, api_port=api_port,
            ca_cert=self.dir / "pki" / "ca.crt", user=user, client_cert=cert[0], client_key=cert[1],
        )  # fmt: skip

    def node_credentials(self, node: str) -> Path:
        """A kubeconfig for the kubelet of NODE: system:node:NODE in group system:nodes."""
        env = read_env(self.env_file)
        ca = (Path(env["CA_CERT"]), Path(env["CA_KEY"]))
        user = f"node-{node}"
        cert = issue(ca, self.dir / "pki", user, f"/O=system:nodes/CN=system:node:{node}")
        return self._kubeconfig(env["API_PORT"], user, cert)

    def down(self, remove: bool = True) -> None:
        """Stop every daemon `up` started (TERM, KILL after 10 s) and delete the directory."""
        if not self.dir.is_dir():
            return
        self.daemons.stop()
        if remove:
            shutil.rmtree(self.dir, ignore_errors=True)


# ---- the node -----------------------------------------------------------------------------------

NODE_IP = "10.243.0.1"  # on a veth pair whose both ends stay inside the namespace
NODE_POD_CIDR = "10.244.0.0/24"  # the CNI bridge cni0 (gateway 10.244.0.1) and the pods
CLUSTER_DOMAIN = "cluster.local"
COREDNS_READY_PORT = 18181
POLICY_QUEUE = 100  # the NFQUEUE kube-network-policies decides on (its default)
NODE_TOOLS = (
    "containerd", "containerd-shim-runc-v2", "runc", "ctr", "socat", "nsenter", "iptables", "ip",
    "conntrack", "curl",
)  # fmt: skip


def say(line: str) -> None:
    print(f"[node {time.strftime('%H:%M:%S', time.gmtime())}] {line}", file=sys.stderr, flush=True)


@dataclass
class KubeNode:
    """A node for the control plane: containerd, kubelet, kube-proxy and CoreDNS in a network
    namespace of its own; everything it writes lives under `dir` (it shares the machine's file
    system). The kubelet authenticates as system:node:NAME; NAME must resolve to loopback here,
    since the API server reaches the kubelet at NAME:<kubelet port> on the machine.
    NETWORK_POLICIES: run the policy engine (off: NetworkPolicies are stored but nothing enforces
    them, as on a CNI without policy support)."""

    dir: Path
    name: str = "localhost"
    network_policies: bool = True

    def __post_init__(self) -> None:
        self.dir = self.dir.absolute()
        self.ns = "crn-" + re.sub("[^a-zA-Z0-9]", "", self.dir.name)[-10:]
        self.cgroup_root = f"/{self.ns}"
        self.daemons = Daemons(self.dir, f"node {self.ns}")
        self.socket = self.dir / "containerd" / "containerd.sock"
        self.api_port = 0  # the API server's, once `up` has opened its door into the namespace

    def in_ns(self, *command: str | Path) -> list[str | Path]:
        return ["nsenter", f"--net=/run/netns/{self.ns}", *command]

    def ctr(self, *args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """ctr against the node's containerd (namespace k8s.io); the result, checked or not."""
        command = [str(part) for part in self._ctr_args(*args)]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout)

    def import_images(self, *archives: Path) -> None:
        for archive in archives:
            run(*self._ctr_args("images", "import", archive))

    def cgroup_dirs(self) -> list[Path]:
        """cgroup v1: this node's directory in each hierarchy (not the cpu,cpuacct aliases)."""
        hierarchies = (h for h in Path("/sys/fs/cgroup").iterdir() if h.is_dir())
        return [h / self.ns for h in sorted(hierarchies) if not h.is_symlink()]

    # -- the namespace's doors: unix sockets under dir/run bridged by socat on both sides --

    def forward(self, host_port: int, target: str) -> None:
        """127.0.0.1:HOST_PORT on the machine -> TARGET (ip:port) inside the namespace (a
        Service's ClusterIP, say, so kube-proxy balances each connection)."""
        sock = self.dir / "run" / f"in-{host_port}.sock"
        self.daemons.start(
            f"in-{host_port}-ns",
            *self.in_ns("socat", f"UNIX-LISTEN:{sock},fork,mode=600", f"TCP:{target}"),
        )
        self.daemons.wait(f"socket {sock}", sock.is_socket, 10)
        self.daemons.start(
            f"in-{host_port}-host",
            "socat", f"TCP-LISTEN:{host_port},bind=127.0.0.1,fork,reuseaddr",
            f"UNIX-CONNECT:{sock}",
        )  # fmt: skip
        self.daemons.wait(
            f"127.0.0.1:{host_port}",
            lambda: port_open(host_port),
            10,
        )

    def reach(self, port: int) -> None:
        """127.0.0.1:PORT inside the namespace -> 127.0.0.1:PORT on the machine (the API server,
        a registry on the machine for containerd's pulls)."""
        sock = self.dir / "run" / f"out-{port}.sock"
        self.daemons.start(
            f"out-{port}-host",
            "socat",
            f"UNIX-LISTEN:{sock},fork,mode=600",
            f"TCP:127.0.0.1:{port}",
        )
        self.daemons.wait(f"socket {sock}", sock.is_socket, 10)
        self.daemons.start(
            f"out-{port}-ns",
            *self.in_ns(
                "socat", f"TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr", f"UNIX-CONNECT:{sock}"
            ),
        )

    def api_endpoint(self, address: str) -> str:
        """The API server at ADDRESS:443 for the pods, as a cloud cluster's API endpoint sits on a
        host in the VPC: a namespace of its own behind a veth from the node's (routed, so a
        NetworkPolicy engine sees the pods' packets; the node's own addresses bypass it), where
        socat passes connections on to the API server door of `reach`. Returns ADDRESS:443."""
        host, ns = f"{self.ns}-api", self.ns
        sock = self.dir / "run" / f"out-{self.api_port}.sock"
        run("ip", "netns", "add", host)
        run("ip", "-n", ns, "link", "add", "api0", "type", "veth", "peer", "api0", "netns", host)
        gateway = str(ipaddress.ip_address(address) - 1)
        run("ip", "-n", ns, "addr", "add", f"{gateway}/30", "dev", "api0")
        run("ip", "-n", ns, "link", "set", "api0", "up")
        for step in ("link set lo up", f"addr add {address}/30 dev api0", "link set api0 up",
                     f"route add default via {gateway}"):  # fmt: skip
            run("ip", "-n", host, *step.split())
        self.daemons.start(
            "api-endpoint", "nsenter", f"--net=/run/netns/{host}",
            "socat", f"TCP-LISTEN:443,bind={address},fork,reuseaddr", f"UNIX-CONNECT:{sock}",
        )  # fmt: skip
        self.daemons.wait(
            f"the API server at {address}:443",
            lambda: succeeds(*self.in_ns("curl", "-sk", f"https://{address}/version")),
            10,
        )
        return f"{address}:443"

    def sshd(self, host_port: int, authorized_keys: Path) -> None:
        """An sshd for root (these keys only) on 127.0.0.1:22 in the namespace, reached at
        127.0.0.1:HOST_PORT on the machine: how Ansible (make certs) gets onto the node.
        StrictModes is off: the directory sits under /tmp, whose ownership sshd would refuse."""
        ssh = self.dir / "ssh"
        ssh.mkdir(exist_ok=True)
        Path("/run/sshd").mkdir(exist_ok=True)
        shutil.copy(authorized_keys, ssh / "authorized_keys")
        (ssh / "authorized_keys").chmod(0o600)
        if not (ssh / "host_ed25519").exists():
            run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", ssh / "host_ed25519")
        options = {
            "ListenAddress": "127.0.0.1:22",
            "HostKey": ssh / "host_ed25519",
            "PidFile": ssh / "sshd.pid",
            "AuthorizedKeysFile": ssh / "authorized_keys",
            "StrictModes": "no",
            "PermitRootLogin": "prohibit-password",
            "PasswordAuthentication": "no",
            "KbdInteractiveAuthentication": "no",
            "Subsystem": "sftp internal-sftp",
        }
        flags = [arg for key, value in options.items() for arg in ("-o", f"{key}={value}")]
        self.daemons.start(
            "sshd", *self.in_ns("/usr/sbin/sshd", "-D", "-e", "-f", "/dev/null", *flags)
        )
        self.forward(host_port, "127.0.0.1:22")

    # -- up and down --

    def up(self, cluster: ControlPlane, build: Path, certs_d: Path | None = None) -> None:
        """Start the node and return once it is Ready and CoreDNS answers. BUILD is node/build.sh's
        output (coredns, pause.tar); CERTS_D is containerd's registry hosts directory (default
        dir/certs.d: point make certs' registry_ca_containerd_certs_dir at it). On failure
        everything started is stopped and removed again (the logs stay in dir/logs)."""
        if os.geteuid() != 0:
            raise RuntimeError("the node needs root (network namespace, containerd, kubelet)")
        missing = [tool for tool in NODE_TOOLS if shutil.which(tool) is None]
        missing += [p for p in ("/usr/lib/cni/bridge", "/usr/sbin/sshd") if not Path(p).exists()]
        if missing:
            raise RuntimeError(f"missing {', '.join(missing)}: run scripts/deps.sh test-cluster")
        if not ((build / "coredns").is_file() and (build / "pause.tar").is_file()):
            raise RuntimeError(f"{build} must hold coredns and pause.tar (run node/build.sh)")
        if self.dir.exists() and any(self.dir.iterdir()):
            raise RuntimeError(f"{self.dir} is not empty: pick a new directory")
        addresses = {
            str(info[4][0]) for info in socket.getaddrinfo(self.name, None, socket.AF_INET)
        }
        if not all(address.startswith("127.") for address in addresses):
            raise RuntimeError(
                f"node name {self.name} resolves to {sorted(addresses)}, not loopback: the API "
                "server could not reach the kubelet"
            )
        for sub in ("run", "logs", "containerd", "cni/net.d", "cni/ipam", "kubelet", "kubelet-pki"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        try:
            self._start(cluster, read_env(cluster.env_file), build, certs_d or self.dir / "certs.d")
        except BaseException:
            self.down(remove=False)
            raise

    def _start(
        self, cluster: ControlPlane, env: dict[str, str], build: Path, certs_d: Path
    ) -> None:
        d, ns = self.dir, self.ns
        bin_dir, kubeconfig, ca_cert = Path(env["CLUSTER_BIN"]), env["KUBECONFIG"], env["CA_CERT"]
        kubelet_port = free_port()
        say(f"network namespace {ns}: node {NODE_IP}, pods {NODE_POD_CIDR}")
        run("ip", "netns", "add", ns)
        for step in (
            "link set lo up",
            "link add node0 type veth peer name node0-peer",
            f"addr add {NODE_IP}/24 dev node0",
            "link set node0 up",
            "link set node0-peer up",
            # a default route for Service addresses (kube-proxy DNATs them), nowhere to leave to
            "route add default dev node0",
        ):
            run("ip", "-n", ns, *step.split())
        run(*self.in_ns("sysctl", "-q", "-w", "net.ipv4.ip_forward=1"))
        run(*self.in_ns("sysctl", "-q", "-w", "net.bridge.bridge-nf-call-iptables=1"))

        say(f"API server 127.0.0.1:{env['API_PORT']} in; kubelet port {kubelet_port} out")
        self.api_port = int(env["API_PORT"])
        self.reach(self.api_port)
        self.forward(kubelet_port, f"{NODE_IP}:{kubelet_port}")

        for cgroup in self.cgroup_dirs():
            cgroup.mkdir(exist_ok=True)
            for cpuset in ("cpuset.cpus", "cpuset.mems"):
                if (cgroup / cpuset).exists():
                    (cgroup / cpuset).write_text((cgroup.parent / cpuset).read_text())

        config = render(
            "containerd.toml", d / "containerd" / "config.toml", state=d, certs_d=certs_d,
            pause_image=(build / "pause.image").read_text().strip(),
        )  # fmt: skip
        self.daemons.start("containerd", *self.in_ns("containerd", "--config", config))
        self.daemons.wait("containerd", lambda: self.ctr("version").returncode == 0, 30)
        run(*self._ctr_args("images", "import", "--no-unpack", build / "pause.tar"))

        render("cni.conflist", d / "cni" / "net.d" / "10-crypto-rates.conflist", state=d,
               pod_cidr=NODE_POD_CIDR)  # fmt: skip
        (d / "resolv.conf").write_text(f"nameserver {NODE_IP}\n")
        corefile = render(
            "Corefile", d / "Corefile", ready_port=COREDNS_READY_PORT,
            cluster_domain=CLUSTER_DOMAIN, kubeconfig=kubeconfig,
        )  # fmt: skip
        self.daemons.start("coredns", *self.in_ns(build / "coredns", "-conf", corefile))

        pki = d / "kubelet-pki"
        ca = (Path(ca_cert), Path(env["CA_KEY"]))
        issue(ca, pki, "kubelet", f"/O=system:nodes/CN=system:node:{self.name}",
              f"DNS:{self.name},IP:127.0.0.1,IP:{NODE_IP}", server=True)  # fmt: skip
        kubelet_config = render(
            "kubelet.yaml", d / "kubelet.yaml", node_ip=NODE_IP, kubelet_port=kubelet_port,
            pki=pki, state=d, cgroup_root=self.cgroup_root, cluster_domain=CLUSTER_DOMAIN,
            ca_cert=ca_cert,
        )  # fmt: skip
        version = run(bin_dir / "kubelet", "--version").stdout.split()[-1]
        say(f"kubelet {version} as node {self.name}")
        self.daemons.start(
            "kubelet", *self.in_ns(
                bin_dir / "kubelet", "--config", kubelet_config,
                "--kubeconfig", cluster.node_credentials(self.name), "--root-dir", d / "kubelet",
                "--hostname-override", self.name, "--node-ip", NODE_IP, "--v", "1",
            ),
        )  # fmt: skip
        proxy_config = render(
            "kube-proxy.yaml", d / "kube-proxy.yaml", kubeconfig=kubeconfig, node_name=self.name,
            pod_cidr=NODE_POD_CIDR, node_ip=NODE_IP,
        )  # fmt: skip
        self.daemons.start(
            "kube-proxy",
            *self.in_ns(bin_dir / "kube-proxy", "--config", proxy_config, "--v", "1"),
        )

        kubectl: list[str | Path] = [bin_dir / "kubectl", "--kubeconfig", kubeconfig]
        if self.network_policies:
            self._start_policy_engine(env, kubectl)

        ready = "jsonpath={.status.conditions[?(@.type=='Ready')].status}"
        self.daemons.wait(
            f"node {self.name} Ready",
            lambda: subprocess.run(
                [str(part) for part in (*kubectl, "get", "node", self.name, "-o", ready)],
                capture_output=True, text=True, timeout=10,
            ).stdout.strip() == "True",
            120,
        )  # fmt: skip
        coredns = f"http://127.0.0.1:{COREDNS_READY_PORT}/ready"
        self.daemons.wait("CoreDNS", lambda: succeeds(*self.in_ns("curl", "-fs", coredns)), 60)
        say(f"node {self.name} Ready (state in {d})")

    def _start_policy_engine(self, env: dict[str, str], kubectl: list[str | Path]) -> None:
        """kube-network-policies in the namespace, as kind runs it: netfilter sends the packets of
        new flows to NFQUEUE, where it accepts or drops each by the NetworkPolicies.
        It only knows in-cluster configuration (a fixed token path), so it gets a mount namespace
        of its own with a ServiceAccount token bound where that path expects it."""
        engine = built_binaries("kube-network-policies") / "kube-network-policies"
        run(*kubectl, "apply", "-f", TEMPLATES / "kube-network-policies.yaml")
        token = run(
            *kubectl, "create", "token", "kube-network-policies", "-n", "kube-system",
            "--duration", "24h",
        ).stdout.strip()  # fmt: skip
        account = self.dir / "network-policies"
        account.mkdir(mode=0o700)
        (account / "token").write_text(token)
        shutil.copy(env["CA_CERT"], account / "ca.crt")
        (account / "namespace").write_text("kube-system")
        mount = "/run/secrets/kubernetes.io/serviceaccount"
        script = f'mount -t tmpfs tmpfs /run && mkdir -p {mount} && mount --bind "$0" {mount}'
        script += ' && exec "$@"'
        self.daemons.start(
            "kube-network-policies", *self.in_ns(
                "env", "KUBERNETES_SERVICE_HOST=127.0.0.1",
                f"KUBERNETES_SERVICE_PORT={env['API_PORT']}",
                "unshare", "--mount", "--propagation", "private", "sh", "-c", script, account,
                engine, "--hostname-override", self.name, "--disable-nri",
                "--nfqueue-id", str(POLICY_QUEUE), "--metrics-bind-address", "127.0.0.1:0",
                "--netfilter-bug-1766-fix=false",  # fixed in kernels 6.12+; DNS is queued too
            ),
        )  # fmt: skip

        def queue_bound() -> bool:
            queues = subprocess.run(
                [*map(str, self.in_ns("cat", "/proc/net/netfilter/nfnetlink_queue"))],
                capture_output=True, text=True, check=False,
            ).stdout  # fmt: skip
            return any(line.split()[:1] == [str(POLICY_QUEUE)] for line in queues.splitlines())

        self.daemons.wait(f"kube-network-policies on NFQUEUE {POLICY_QUEUE}", queue_bound, 60)
        # This kernel has no nftables `queue` expression (CONFIG_NFT_QUEUE), only xtables' NFQUEUE
        # target: the engine's own chain fails to load (it logs so and keeps deciding), so the
        # node hooks its rules with iptables, before SNAT as the engine would: the node's root
        # processes (kubelet probes) and established flows pass; every new flow from or to a pod
        # goes to the engine, and with no engine listening it is dropped (no --queue-bypass).
        for rule in (
            "-m owner --uid-owner 0 -j RETURN",
            "-m conntrack --ctstate ESTABLISHED,RELATED -j RETURN",
            f"-s {NODE_POD_CIDR} -j NFQUEUE --queue-num {POLICY_QUEUE}",
            f"-d {NODE_POD_CIDR} -j NFQUEUE --queue-num {POLICY_QUEUE}",
        ):
            run(*self.in_ns("iptables", "-t", "mangle", "-A", "POSTROUTING", *rule.split()))

    def _ctr_args(self, *args: str | Path) -> list[str | Path]:
        return ["ctr", "--address", self.socket, "--namespace", "k8s.io", *args]

    def down(self, remove: bool = True) -> None:
        """Stop the kubelet and the daemons, kill the node's containers (every process in its
        cgroups) and containerd's shims, unmount what lies under dir, remove the cgroups and the
        namespace, and (REMOVE) the directory."""
        if not self.dir.exists():
            return
        say(f"stopping node {self.name} ({self.ns})")
        self.daemons.stop(["kubelet"], timeout_s=15)
        self.daemons.stop(["kube-proxy", "coredns", "kube-network-policies"])
        # os.walk, not rglob: a container's cgroup may vanish while the tree is walked
        for cgroup in self.cgroup_dirs():
            for parent, _, _ in os.walk(cgroup):
                try:
                    pids = (Path(parent) / "cgroup.procs").read_text().split()
                except OSError:
                    continue
                for pid in pids:
                    with suppress(ProcessLookupError, PermissionError):
                        os.kill(int(pid), signal.SIGKILL)
        self.daemons.stop(["containerd"])
        needle = f" -address {self.socket} "
        for proc in Path("/proc").iterdir():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if "containerd-shim-runc-v2" in cmdline and needle in f" {cmdline}":
                with suppress(ProcessLookupError, PermissionError):
                    os.kill(int(proc.name), signal.SIGKILL)
        self.daemons.stop(timeout_s=2)
        mounts = run("findmnt", "-rno", "TARGET").stdout.splitlines()
        for mount in sorted((m for m in mounts if m.startswith(f"{self.dir}/")), reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True, check=False)
        for cgroup in self.cgroup_dirs():
            # the deepest first (bottom-up walk): rmdir refuses a cgroup with children
            for parent, _, _ in os.walk(cgroup, topdown=False):
                with suppress(OSError):
                    Path(parent).rmdir()
        for ns in (self.ns, f"{self.ns}-api"):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
        if remove:
            subprocess.run(["rm", "-rf", "--one-file-system", str(self.dir)], check=False)
        say(f"node stopped{', ' + str(self.dir) + ' removed' if remove else ''}")


# ---- command line: make cluster-up / cluster-down ------------------------------------------------

USAGE = """usage: python -m localcluster up DIR | down DIR
  up DIR    the control plane on 127.0.0.1, state in DIR; DIR/cluster.env names its kubeconfig
  down DIR  stop every process started by `up DIR` and delete DIR
Knobs (environment): CLUSTER_BIN (binaries; default: build.sh's output), CLUSTER_SERVICE_CIDR,
CLUSTER_POD_CIDR, CLUSTER_ADVERTISE_ADDRESS, CLUSTER_APISERVER_ARGS,
CLUSTER_CONTROLLER_MANAGER_ARGS, CLUSTER_SCHEDULER_ARGS (extra flags, space-separated)."""


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("up", "down"):
        print(USAGE, file=sys.stderr)
        return 2
    environ = os.environ
    plane = ControlPlane(
        Path(argv[1]),
        service_cidr=environ.get("CLUSTER_SERVICE_CIDR") or "10.96.0.0/16",
        pod_cidr=environ.get("CLUSTER_POD_CIDR", ""),
        advertise=environ.get("CLUSTER_ADVERTISE_ADDRESS") or "127.0.0.1",
        extra_args={
            name: environ.get(f"CLUSTER_{knob}_ARGS", "").split()
            for name, knob in (
                ("kube-apiserver", "APISERVER"),
                ("kube-controller-manager", "CONTROLLER_MANAGER"),
                ("kube-scheduler", "SCHEDULER"),
            )
        },
    )
    if argv[0] == "down":
        plane.down()
        return 0
    bin_dir = environ.get("CLUSTER_BIN")
    try:
        env = plane.up(Path(bin_dir) if bin_dir else None)
    except (RuntimeError, AssertionError) as error:
        print(f"cluster up: {error}", file=sys.stderr)
        return 1
    print(f"API server {env['API_SERVER']} ready; KUBECONFIG={env['KUBECONFIG']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

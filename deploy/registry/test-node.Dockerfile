# A test "node" for make test-registry: the project's debootstrap base with sshd, curl, skopeo and
# containerd (and, with WITH_DOCKER=1, Docker), reached by Ansible over real SSH on 127.0.0.1.
# Test-only: built by deploy/registry/test-registry.sh into the image test's Docker data root.
ARG BASE
FROM ${BASE}
ARG WITH_DOCKER=0
# policy-rc.d: packages must not try to start their services during the build.
RUN printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        openssh-server curl skopeo containerd $([ "$WITH_DOCKER" = 1 ] && echo docker.io) \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /root/.ssh && chmod 700 /root/.ssh

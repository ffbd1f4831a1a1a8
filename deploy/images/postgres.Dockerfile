# PostgreSQL from Debian's `postgresql` package, for where the official `postgres` image (Docker Hub) is out
# of reach: make test-images builds it on its debootstrap base, and a registry mirror can build it the same
# way. The chart (backend.database.bundled.image) and compose default to the official image; this one keeps
# its contract: POSTGRES_USER, POSTGRES_PASSWORD (required), POSTGRES_DB and PGDATA; any user that owns
# PGDATA (here 10004, as the chart and compose run it); TCP on PGPORT (default 5432) with scram-sha-256,
# a read-only root with /tmp writable. The Unix socket is in /tmp (postgres-entrypoint.sh; PGHOST points
# clients in the container there), not in Debian's /var/run/postgresql: Docker (20.10) fills a --tmpfs
# over a directory the image has with that directory's mode but root as owner, ignoring mode=1777, so
# uid 10004 could not create its lock file in a tmpfs at /run/postgresql.
# Build context: deploy/images (docker build -f deploy/images/postgres.Dockerfile deploy/images).
ARG DEBIAN_IMAGE=debian:bookworm-slim
FROM ${DEBIAN_IMAGE}
ARG REVISION=unknown
LABEL org.opencontainers.image.title="crypto-rates-postgres" \
      org.opencontainers.image.description="PostgreSQL from Debian's package with the official postgres image's environment" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.revision="${REVISION}"
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# The user first, so the package takes it; no cluster of the package's own (initdb runs at first start).
# hadolint ignore=DL3008
RUN groupadd --gid 10004 postgres \
    && useradd --uid 10004 --gid 10004 --home-dir /var/lib/postgresql --no-create-home \
       --shell /usr/sbin/nologin postgres \
    && mkdir -p /etc/postgresql-common/createcluster.d \
    && echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.d/no-main.conf \
    && printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \
    && apt-get update \
    && apt-get install --yes --no-install-recommends postgresql \
    && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d \
    && ln -s /usr/lib/postgresql/*/bin/* /usr/local/bin/ \
    && install -d -o 10004 -g 10004 -m 0700 /var/lib/postgresql/data
COPY --chmod=0755 postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
ENV PGDATA=/var/lib/postgresql/data PGHOST=/tmp
USER 10004:10004
EXPOSE 5432
# Fast shutdown: SIGTERM (smart) would wait for every client to disconnect.
STOPSIGNAL SIGINT
ENTRYPOINT ["postgres-entrypoint.sh"]

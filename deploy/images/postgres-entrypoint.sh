#!/bin/sh
# The official postgres image's start-up contract on Debian's package (postgres.Dockerfile): on the first
# start, initdb with POSTGRES_USER/POSTGRES_PASSWORD and create POSTGRES_DB; then run the server on TCP
# (PGPORT, default 5432) for clients with a password. Extra arguments go to postgres.
set -eu

: "${PGDATA:?PGDATA must name the data directory}"
user=${POSTGRES_USER:-postgres}
database=${POSTGRES_DB:-$user}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    [ -n "${POSTGRES_PASSWORD:-}" ] || {
        echo "postgres-entrypoint: POSTGRES_PASSWORD is empty: the database needs a password for its first start" >&2
        exit 1
    }
    mkdir -p "$PGDATA"
    chmod 0700 "$PGDATA"
    password_file=$(mktemp)
    trap 'rm -f "$password_file"' EXIT
    printf '%s\n' "$POSTGRES_PASSWORD" >"$password_file"
    # Local (socket) connections inside the container are trusted, as in the official image.
    initdb --pgdata="$PGDATA" --username="$user" --pwfile="$password_file" --encoding=UTF8 \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$password_file"
    printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
    if [ "$database" != postgres ]; then
        printf 'CREATE DATABASE "%s" OWNER "%s";\n' "$database" "$user" \
            | postgres --single -D "$PGDATA" -c listen_addresses='' postgres >/dev/null
    fi
    echo "postgres-entrypoint: initialised $PGDATA (user $user, database $database)"
fi

# The socket in /tmp, writable wherever the root is read-only (see postgres.Dockerfile).
exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/tmp "$@"

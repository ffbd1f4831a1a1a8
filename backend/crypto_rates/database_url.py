"""DATABASE_URL: the forms users copy (RDS and friends, `sqlite:///path`) into SQLAlchemy's URL.

The password stays inside the URL object: what is shown anywhere is `display`, which hides it.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from sqlalchemy.engine import URL

Engine = Literal["postgresql", "sqlite"]
POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+asyncpg")
SQLITE_SCHEMES = ("sqlite", "sqlite+aiosqlite")
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
EXAMPLES = (
    "postgresql://user:password@host:5432/database[?sslmode=require] or sqlite:///path/to/file.db"
)


@dataclass(frozen=True)
class DatabaseUrl:
    engine: Engine
    url: URL  # SQLAlchemy's, with the async driver
    connect_args: dict[str, Any] = field(default_factory=dict)

    @property
    def display(self) -> str:
        """The URL without its password: safe for logs, /health and errors."""
        return self.url.render_as_string(hide_password=True)

    @property
    def in_memory(self) -> bool:
        return self.engine == "sqlite" and self.url.database in (None, "", ":memory:")


def sqlite_file(path: Path) -> DatabaseUrl:
    return DatabaseUrl("sqlite", URL.create("sqlite+aiosqlite", database=str(path)))


def sqlite_memory() -> DatabaseUrl:
    return DatabaseUrl("sqlite", URL.create("sqlite+aiosqlite"))


def parse_database_url(raw: str) -> DatabaseUrl:
    """Raise ValueError naming what is wrong; the message never contains the password."""
    try:
        parts = urlsplit(raw.strip())
        port = parts.port
    except ValueError:
        raise ValueError(f"is not a URL; use {EXAMPLES}") from None
    scheme = parts.scheme.lower()
    if scheme in SQLITE_SCHEMES:
        if parts.netloc:
            raise ValueError(
                "a SQLite URL has no host: use sqlite:///relative/path or sqlite:////abs"
            )
        path = unquote(parts.path.removeprefix("/"))
        if not path or path == ":memory:":
            return sqlite_memory()
        return sqlite_file(Path(path))
    if scheme not in POSTGRES_SCHEMES:
        shown = scheme or "(none)"
        raise ValueError(f"unsupported scheme {shown!r}; use {EXAMPLES}")
    if not parts.hostname:
        raise ValueError(f"has no host; use {EXAMPLES}")
    database = unquote(parts.path.removeprefix("/"))
    if not database or "/" in database:
        raise ValueError(f"must name one database after the host; use {EXAMPLES}")
    connect_args: dict[str, Any] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name != "sslmode":
            raise ValueError(f"unsupported query parameter {name!r}; only sslmode is understood")
        if value not in SSL_MODES:
            raise ValueError(f"sslmode must be one of {', '.join(SSL_MODES)} (got {value!r})")
        connect_args["ssl"] = value  # asyncpg's name for libpq's sslmode
    url = URL.create(
        "postgresql+asyncpg",
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        host=parts.hostname,
        port=port,
        database=database,
    )
    return DatabaseUrl("postgresql", url, connect_args)

"""Structured logging: one JSON object per line (or plain text), carrying the request id."""

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

# Attributes every LogRecord has; anything else was passed with `extra=` and is logged as a field.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


def _fields(record: logging.LogRecord) -> dict[str, object]:
    fields: dict[str, object] = {k: v for k, v in vars(record).items() if k not in _STANDARD}
    rid = request_id.get()
    if rid is not None:
        fields.setdefault("request_id", rid)
    return fields


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


# C0 and C1 controls, DEL and the Unicode line separators, written as escapes (\n, \x1b, ...).
_CONTROLS = {
    c: ascii(chr(c))[1:-1] for c in [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029, 0x85]
}


def escape_controls(text: str) -> str:
    """One record, one line: a request path with %0a (decoded by the server) forges no line."""
    return text.translate(_CONTROLS)


class TextFormatter(logging.Formatter):
    """`time level logger: message key=value ...`, every part escaped; a traceback follows
    indented, so any line that starts in column 0 begins a record."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = escape_controls(super().formatMessage(record))
        extras = " ".join(
            f"{escape_controls(str(k))}={escape_controls(str(v))}"
            for k, v in _fields(record).items()
        )
        return f"{line} {extras}" if extras else line

    def formatException(self, ei: Any) -> str:
        return "\n".join(f"    {line}" for line in super().formatException(ei).splitlines())

    def formatStack(self, stack_info: str) -> str:
        return "\n".join(f"    {line}" for line in stack_info.splitlines())


def _spellings(secret: str) -> set[str]:
    # As written, JSON-escaped, repr()-escaped (a dict field) and both (a repr inside JSON).
    escapes = (lambda s: s, lambda s: json.dumps(s)[1:-1], lambda s: repr(s)[1:-1])
    return {e2(e1(secret)) for e1 in escapes for e2 in escapes}


class RedactSecrets(logging.Formatter):
    """Defence in depth: the API key is never logged on purpose, and never by accident either.
    Wraps the real formatter and cleans its finished line: message, extra fields, traceback."""

    def __init__(self, inner: logging.Formatter, secrets: list[str]) -> None:
        super().__init__()
        self._inner = inner
        self._secrets: list[str] = []
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        """Redact this one too (a rotated API key, read after start)."""
        if secret:
            spellings = _spellings(secret).union(self._secrets)
            self._secrets = sorted(spellings, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        line = self._inner.format(record)
        for secret in self._secrets:
            line = line.replace(secret, "***")
        return line


def configure_logging(level: str, fmt: str, secrets: list[str] | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    formatter = JsonFormatter() if fmt == "json" else TextFormatter()
    handler.setFormatter(RedactSecrets(formatter, secrets or []))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # httpx logs every request line at INFO; our own upstream logs say what matters.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("httpcore").setLevel(max(logging.WARNING, root.level))


def redact_also(secret: str) -> None:
    """Add a secret learnt after start (a rotated API key) to the redaction of every handler."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler.formatter, RedactSecrets):
            handler.formatter.add(secret)

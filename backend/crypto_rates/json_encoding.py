"""How this service writes JSON: compact UTF-8 bytes, and timestamps as ISO 8601 UTC with `Z`."""

import json
from datetime import UTC, datetime


def dumps(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")

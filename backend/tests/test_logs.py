import json
import logging
import sys

import pytest
from crypto_rates.logs import (
    JsonFormatter,
    RedactSecrets,
    TextFormatter,
    configure_logging,
    request_id,
)


def _record(message: str, **extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord(
        {"name": "crypto_rates.test", "levelname": "INFO", "msg": message}
    )
    record.__dict__.update(extra)
    return record


def test_json_lines_carry_fields_and_the_request_id() -> None:
    token = request_id.set("rid-7")
    try:
        line = JsonFormatter().format(_record("refreshed", currencies=61))
    finally:
        request_id.reset(token)
    entry = json.loads(line)
    assert entry["message"] == "refreshed"
    assert entry["level"] == "info" and entry["logger"] == "crypto_rates.test"
    assert entry["currencies"] == 61 and entry["request_id"] == "rid-7"
    assert entry["time"].endswith("+00:00")


def test_json_lines_include_exceptions() -> None:
    try:
        raise ValueError("bad")
    except ValueError:
        record = _record("failed")
        record.exc_info = sys.exc_info()
    entry = json.loads(JsonFormatter().format(record))
    assert "ValueError: bad" in entry["exception"]


def test_text_lines_append_fields() -> None:
    line = TextFormatter().format(_record("refreshed", currencies=61))
    assert "refreshed" in line and line.endswith("currencies=61")


def test_secrets_are_redacted_from_messages() -> None:
    record = _record("calling with key %s", args=None)
    record.msg, record.args = "calling with key %s", ("cg-secret",)
    assert (
        RedactSecrets(TextFormatter(), ["cg-secret", ""])
        .format(record)
        .endswith("calling with key ***")
    )


@pytest.mark.parametrize("formatter", [JsonFormatter(), TextFormatter()], ids=["json", "text"])
def test_secrets_are_redacted_from_extra_fields_and_tracebacks(
    formatter: logging.Formatter,
) -> None:
    secret = 'cg-"Q\\Z9k'  # quote and backslash: JSON and repr() escape them; still redacted
    try:
        raise RuntimeError(f"upstream refused key {secret}")
    except RuntimeError:
        record = _record("failed", url=f"https://x/?key={secret}", headers={"k": secret})
        record.exc_info = sys.exc_info()
    line = RedactSecrets(formatter, [secret]).format(record)
    assert "Z9k" not in line, line
    assert line.count("***") >= 3


@pytest.mark.parametrize(
    "forged", ["\n2026-01-01 00:00:00,000 ERROR   forged", "\r\x1b[2Jcleared", "\u2028next"]
)
def test_text_lines_escape_control_characters_in_messages_and_fields(forged: str) -> None:
    try:
        raise ValueError(f"bad{forged}")
    except ValueError:
        record = _record(f"GET /x{forged}", path=f"/x{forged}", **{f"k{forged}": 1})
        record.exc_info = sys.exc_info()
    record_line, *traceback = TextFormatter().format(record).splitlines()
    assert "\x1b" not in record_line and "\u2028" not in record_line
    assert record_line.count("/x\\") == 2, record_line  # message and field, escaped
    assert traceback and all(line.startswith("    ") for line in traceback), traceback


def test_configure_logging_installs_one_handler(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging("debug", "json", ["topsecret"])
        logging.getLogger("crypto_rates.x").info("key is topsecret")
        assert len(root.handlers) == 1 and root.level == logging.DEBUG
        assert logging.getLogger("httpx").level == logging.WARNING
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
    err = capsys.readouterr().err
    assert json.loads(err.strip().splitlines()[-1])["message"] == "key is ***"

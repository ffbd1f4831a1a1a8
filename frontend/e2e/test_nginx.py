"""frontend/nginx: the rendered config, its headers, caching, proxying and failure answers."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from e2e_stack import NGINX, RENDER, Nginx, Stack
from testkit.processes import http_get

APP_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def render(out: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("BACKEND_URL", "LISTEN_PORT", "DOCUMENT_ROOT", "MICRO_CACHE_TTL", "RESOLVER")
    }
    return subprocess.run(
        ["sh", str(RENDER), str(out)], env={**clean, **env}, capture_output=True, text=True
    )


def asset(stack: Stack, suffix: str) -> str:
    assert stack.nginx is not None
    names = [p.name for p in (stack.nginx.html / "assets").iterdir() if p.name.endswith(suffix)]
    assert names, f"no *{suffix} in the build"
    return f"/assets/{names[0]}"


def test_rendered_config_passes_nginx_t(stack: Stack) -> None:
    assert stack.nginx is not None
    result = subprocess.run(stack.nginx.argv("-t"), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr and "test is successful" in result.stderr


def test_render_defaults_and_no_placeholder_left(tmp_path: Path) -> None:
    result = render(tmp_path)
    assert result.returncode == 0, result.stderr
    conf = (tmp_path / "nginx.conf").read_text()
    assert "listen 8080;" in conf
    assert "proxy_pass http://crypto_rates_backend;" in conf
    backend = (tmp_path / "backend.conf").read_text()
    assert "server 127.0.0.1:8000;" in backend and "keepalive 16;" in backend
    assert "resolver" not in backend
    assert "proxy_cache_valid 200 1s;" in (tmp_path / "micro-cache.conf").read_text()
    assert "root /usr/share/nginx/html;" in conf
    assert "${" not in conf
    assert not re.search(r"^\s*user\s", conf, re.MULTILINE), "a user directive breaks non-root use"
    assert (tmp_path / "proxy.conf").is_file()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BACKEND_URL", "backend:8000"),
        ("BACKEND_URL", "http://backend:8000/api"),
        ("BACKEND_URL", "http://backend:8000; evil"),
        ("LISTEN_PORT", "80a"),
        ("LISTEN_PORT", "70000"),
        ("DOCUMENT_ROOT", "relative/path"),
        ("DOCUMENT_ROOT", "/srv/a b"),
        ("MICRO_CACHE_TTL", "1s"),
        ("MICRO_CACHE_TTL", "-1"),
        ("MICRO_CACHE_TTL", "3601"),
        ("STALE_IF_ERROR", "30"),
        ("STALE_IF_ERROR", "600; evil"),
        ("RATE_LIMIT", "-1"),
        ("RATE_LIMIT", "10r/s"),
        ("RESOLVER", "dns.example"),
        ("RESOLVER", "127.0.0.11; evil"),
    ],
)
def test_render_refuses_bad_values_naming_the_variable(
    tmp_path: Path, name: str, value: str
) -> None:
    result = render(tmp_path, **{name: value})
    assert result.returncode == 2
    assert f"{name}=" in result.stderr and "is not valid" in result.stderr
    assert not (tmp_path / "nginx.conf").exists()


def test_render_accepts_a_service_name_and_custom_port(tmp_path: Path) -> None:
    result = render(tmp_path, BACKEND_URL="http://crypto-rates-backend:8000/", LISTEN_PORT="9090")
    assert result.returncode == 0, result.stderr
    conf = (tmp_path / "nginx.conf").read_text()
    assert "listen 9090;" in conf
    assert "server crypto-rates-backend:8000;" in (tmp_path / "backend.conf").read_text()


def test_render_without_a_port_uses_the_schemes(tmp_path: Path) -> None:
    assert render(tmp_path, BACKEND_URL="https://api.internal").returncode == 0
    assert "proxy_pass https://crypto_rates_backend;" in (tmp_path / "nginx.conf").read_text()
    assert "server api.internal:443;" in (tmp_path / "backend.conf").read_text()


def test_render_ttl_zero_turns_the_micro_cache_off(tmp_path: Path) -> None:
    assert render(tmp_path, MICRO_CACHE_TTL="0").returncode == 0
    assert "proxy_cache " not in (tmp_path / "micro-cache.conf").read_text()
    assert (
        subprocess.run(
            [NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", "stderr", "-t"],
            capture_output=True,
        ).returncode
        == 0
    )


def test_render_with_a_resolver_on_this_nginx(tmp_path: Path) -> None:
    """Debian 12's nginx 1.22 has no `resolve` in upstreams: the name goes through a variable,
    which the resolver re-resolves (keep-alive is the price; nginx >= 1.27.3 keeps both)."""
    result = render(tmp_path, BACKEND_URL="http://backend:8000", RESOLVER="127.0.0.11 [::1]:53")
    assert result.returncode == 0, result.stderr
    backend = (tmp_path / "backend.conf").read_text()
    assert "resolver 127.0.0.11 [::1]:53 valid=5s ipv6=off;" in backend
    version = subprocess.run([NGINX, "-v"], capture_output=True, text=True).stderr
    if version.strip().endswith(("/1.22.1", "/1.22.0")):
        assert "proxy_pass http://$crypto_rates_backend;" in (tmp_path / "nginx.conf").read_text()
        assert "without keep-alive" in result.stderr
    else:
        assert "server backend:8000 resolve;" in backend and "zone " in backend


def test_security_headers_and_no_version(stack: Stack) -> None:
    status, headers, _ = http_get(stack.url + "/")
    assert status == 200
    assert headers["content-security-policy"] == APP_CSP
    assert "unsafe-inline" not in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert headers["x-frame-options"] == "DENY"
    assert headers["server"] == "nginx"  # server_tokens off: no version


def test_index_is_revalidated_and_hashed_assets_are_immutable(stack: Stack) -> None:
    _, index_headers, index = http_get(stack.url + "/")
    assert index_headers["cache-control"] == "no-cache"
    js = asset(stack, ".js")
    assert js.encode() in index
    status, headers, _ = http_get(stack.url + js)
    assert status == 200
    assert headers["content-type"].startswith("text/javascript")
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    assert (
        headers["content-security-policy"] == APP_CSP
    )  # security headers survive per-path caching


def test_missing_asset_is_404_not_the_app(stack: Stack) -> None:
    status, headers, body = http_get(stack.url + "/assets/index-doesnotexist.js")
    assert status == 404
    assert b"<!doctype html>" not in body.lower()
    assert headers["cache-control"] == "no-store"


def test_spa_fallback_serves_the_app_for_any_path(stack: Stack) -> None:
    _, _, index = http_get(stack.url + "/")
    status, headers, body = http_get(stack.url + "/some/deep/link?base=eur")
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    assert body == index


def test_assets_are_gzipped(stack: Stack) -> None:
    path = asset(stack, ".js")
    status, headers, body = http_get(stack.url + path, {"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == http_get(stack.url + path)[2]


def test_healthz_is_answered_by_nginx(stack: Stack) -> None:
    status, headers, body = http_get(stack.url + "/healthz")
    assert status == 200
    assert json.loads(body) == {"status": "ok"}
    assert headers["cache-control"] == "no-store"


def test_api_is_proxied_with_the_backends_caching(stack: Stack) -> None:
    status, headers, body = http_get(stack.url + "/api/v1/rates")
    assert status == 200
    assert json.loads(body)["count"] == 61
    assert "stale-if-error" in headers["cache-control"]  # the backend's header, not ours
    etag = headers["etag"]
    status, _, _ = http_get(stack.url + "/api/v1/rates", {"If-None-Match": etag})
    # 304, unless the 2 s refresh replaced the snapshot in between: then a fresh 200.
    assert status in (200, 304)
    assert headers["x-request-id"]


def test_request_id_is_passed_through(stack: Stack) -> None:
    _, headers, _ = http_get(stack.url + "/api/v1/rates", {"X-Request-ID": "e2e-abc-123"})
    assert headers["x-request-id"] == "e2e-abc-123"


def test_docs_and_openapi_are_reachable_through_nginx(stack: Stack) -> None:
    status, headers, body = http_get(stack.url + "/docs")
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    assert b"swagger-ui" in body
    status, _, body = http_get(stack.url + "/openapi.json")
    assert status == 200
    assert "/api/v1/rates" in json.loads(body)["paths"]


def test_backend_problems_pass_through_untouched(stack: Stack) -> None:
    status, headers, body = http_get(stack.url + "/api/v1/rates/nope")
    assert status == 404
    assert headers["content-type"].startswith("application/problem+json")
    problem = json.loads(body)
    assert problem["status"] == 404 and "nope" in problem["detail"]


def test_502_json_when_the_backend_is_down(make_stack: Callable[..., Stack]) -> None:
    private = make_stack()
    assert private.backend is not None
    private.backend.stop()
    status, headers, body = http_get(private.url + "/api/v1/rates")
    assert status == 502
    assert headers["content-type"].startswith("application/problem+json")
    assert headers["cache-control"] == "no-store"
    assert headers["x-content-type-options"] == "nosniff"
    problem = json.loads(body)
    assert problem["status"] == 502 and problem["title"] == "Bad Gateway"
    assert "backend" in problem["detail"]
    # The app itself is still served.
    assert http_get(private.url + "/")[0] == 200


@pytest.mark.skipif(
    os.geteuid() != 0, reason="not root: every other test already runs nginx unprivileged"
)
def test_runs_as_an_unprivileged_user(stack: Stack) -> None:
    """As the image does (uid 10002): no root needed for the port, pid or temp paths."""
    assert stack.backend is not None
    run_dir = Path(tempfile.mkdtemp(prefix="crypto-rates-e2e-nonroot-"))
    try:
        run_dir.chmod(0o755)
        nginx = Nginx(stack.backend.url, run_dir)
        for path in [nginx.prefix, *nginx.prefix.rglob("*")]:
            os.chown(path, 10002, 10002)
        # Container runtimes hand the container user its own stdout (runc chowns the stdio),
        # which nginx reopens as /dev/stdout for the access log; a file owned by that user
        # does the same here.
        nginx.log.touch()
        os.chown(nginx.log, 10002, 10002)
        # Start-up failures raise with the log's tail; the process is stopped either way.
        nginx.start("setpriv", "--reuid=10002", "--regid=10002", "--clear-groups")
        try:
            assert nginx.process is not None
            assert os.stat(f"/proc/{nginx.process.pid}").st_uid == 10002
            assert http_get(nginx.url + "/api/v1/rates")[0] == 200
            assert (nginx.prefix / "nginx.pid").is_file()
        except AssertionError:
            print(nginx.log.read_text())
            raise
        finally:
            nginx.stop()
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)

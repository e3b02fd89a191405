"""Running probes against a target (the imperative shell around :mod:`.checks`).

Every runner returns a :class:`Measurement` and never raises: problems reaching the target are
``error``, wrong answers are ``fail`` (see :class:`Measurement`). Secrets expanded into headers are
masked in every detail text.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx

from .checks import check_http, check_latency, check_prometheus, check_websocket_message
from .measurement import Measurement
from .spec import ProbeSpec, env_references, expand


class _ProbeError(Exception):
    """The target could not be probed (outcome ``error``)."""


class _Secrets:
    """Expands ``${NAME}`` references and masks their values in texts shown to people."""

    def __init__(self, spec: ProbeSpec, env: Mapping[str, str]) -> None:
        self.values: list[str] = []
        for name in env_references(spec):
            if name not in env:
                raise _ProbeError(f"environment variable {name} (used by the probe's headers/body) is not set")
            if env[name]:
                self.values.append(env[name])
        self.values.sort(key=len, reverse=True)
        self.env = env

    def expand(self, text: str) -> str:
        return expand(text, self.env)

    def mask(self, text: str) -> str:
        for value in self.values:
            text = text.replace(value, "***")
        return text


def _split(base_url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a target URL; ``_ProbeError`` when it is not an http(s) URL."""
    try:
        parts = urlsplit(base_url)
        port = parts.port
    except ValueError as exc:
        raise _ProbeError(f"bad target URL {base_url!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _ProbeError(f"bad target URL {base_url!r}: expected http://host[:port][/prefix]")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def _join(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + path


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


def _http_request(spec: ProbeSpec, url: str, secrets: _Secrets, *, method: str | None = None,
                  headers: Mapping[str, str] | None = None, body: str | None = None) -> tuple[httpx.Response, float]:
    """One request; connection problems become ``_ProbeError``, the rest propagates as httpx errors."""
    timeout = httpx.Timeout(spec.timeout_seconds)
    start = time.perf_counter()
    try:
        # trust_env=False: a probe talks to the target itself, never through a proxy from the environment
        with httpx.Client(timeout=timeout, trust_env=False, follow_redirects=False) as client:
            response = client.request(method or "GET", url, headers=dict(headers or {}), content=body)
            return response, _ms(start)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol,
            httpx.InvalidURL) as exc:
        raise _ProbeError(f"cannot connect to {url}: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _run_http(spec: ProbeSpec, base_url: str, secrets: _Secrets) -> tuple[str, float | None, str]:
    _split(base_url)
    url = _join(base_url, spec.effective_path)
    headers = {k: secrets.expand(v) for k, v in spec.headers.items()}
    body = secrets.expand(spec.body) if spec.body is not None else None
    try:
        response, latency = _http_request(spec, url, secrets, method=spec.method, headers=headers, body=body)
    except httpx.TimeoutException:
        return "fail", None, f"{spec.method} {spec.effective_path}: no answer within {spec.timeout_seconds:g} s"
    except httpx.HTTPError as exc:
        return "fail", None, f"{spec.method} {spec.effective_path}: connection broken ({_reason(exc)})"
    ok, detail = check_http(spec, response.status_code, response.content, response.headers.get("content-type"))
    head = f"{spec.method} {spec.effective_path} -> {response.status_code} in {latency:.0f} ms"
    if ok:
        ok, detail = check_latency(spec, latency, head)
        return ("ok" if ok else "fail"), latency, detail
    return "fail", latency, f"{head}: {detail}"


def _run_prometheus(spec: ProbeSpec, base_url: str, secrets: _Secrets) -> tuple[str, float | None, str]:
    _split(base_url)
    url = _join(base_url, spec.effective_path)
    headers = {k: secrets.expand(v) for k, v in spec.headers.items()}
    try:
        response, latency = _http_request(spec, url, secrets, headers=headers)
    except httpx.TimeoutException:
        return "fail", None, f"GET {spec.effective_path}: no answer within {spec.timeout_seconds:g} s"
    except httpx.HTTPError as exc:
        return "fail", None, f"GET {spec.effective_path}: connection broken ({_reason(exc)})"
    ok, detail = check_prometheus(spec, response.status_code, response.text)
    head = f"GET {spec.effective_path} -> {response.status_code} in {latency:.0f} ms"
    if ok:
        ok, detail = check_latency(spec, latency, f"{head}: {detail}")
        return ("ok" if ok else "fail"), latency, detail
    return "fail", latency, f"{head}: {detail}"


def _connect(host: str, port: int, timeout: float) -> socket.socket:
    try:
        return socket.create_connection((host, port), timeout=timeout)
    except socket.gaierror as exc:
        raise _ProbeError(f"cannot resolve {host}: {exc.strerror or exc}") from None
    except TimeoutError:
        raise _ProbeError(f"cannot connect to {host}:{port}: timed out after {timeout:g} s") from None
    except OSError as exc:
        raise _ProbeError(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from None


def _run_websocket(spec: ProbeSpec, base_url: str, secrets: _Secrets) -> tuple[str, float | None, str]:
    from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
    from websockets.sync.client import connect

    scheme, host, port = _split(base_url)
    url = ("wss" if scheme == "https" else "ws") + _join(base_url, spec.effective_path)[len(scheme):]
    headers = {k: secrets.expand(v) for k, v in spec.headers.items()}
    start = time.perf_counter()
    sock = _connect(host, port, spec.timeout_seconds)
    path = spec.effective_path
    try:
        with connect(url, sock=sock, additional_headers=headers or None, open_timeout=spec.timeout_seconds,
                     close_timeout=1, proxy=None, compression=None, ping_interval=None) as ws:
            received = None
            if spec.send is not None:
                ws.send(secrets.expand(spec.send))
            if spec.expect is not None or spec.send is not None:
                remaining = max(0.05, spec.timeout_seconds - (time.perf_counter() - start))
                message = ws.recv(timeout=remaining)
                received = message if isinstance(message, str) else message.decode("utf-8", "replace")
        latency = _ms(start)
    except InvalidStatus as exc:
        return "fail", _ms(start), f"WS {path}: handshake refused with HTTP {exc.response.status_code}"
    except InvalidHandshake as exc:
        return "fail", _ms(start), f"WS {path}: bad handshake ({_reason(exc)})"
    except TimeoutError:
        return "fail", None, f"WS {path}: no answer within {spec.timeout_seconds:g} s"
    except ConnectionClosed as exc:
        return "fail", _ms(start), f"WS {path}: closed by the target ({_reason(exc)})"
    except OSError as exc:
        return "fail", _ms(start), f"WS {path}: connection broken ({exc.strerror or exc})"
    finally:
        sock.close()
    ok, detail = check_websocket_message(spec, received)
    head = f"WS {path} round trip in {latency:.0f} ms" if received is not None else f"WS {path} open in {latency:.0f} ms"
    if not ok:
        return "fail", latency, f"{head}: {detail}"
    ok, detail = check_latency(spec, latency, head)
    return ("ok" if ok else "fail"), latency, detail


def _tcp_address(spec: ProbeSpec, base_url: str) -> tuple[str, int]:
    if isinstance(spec.port, str):
        host, _, port = spec.port.rpartition(":")
        return host.strip("[]"), int(port)
    _scheme, host, port = _split(base_url)
    return host, spec.port if isinstance(spec.port, int) else port


def _run_tcp(spec: ProbeSpec, base_url: str, secrets: _Secrets) -> tuple[str, float | None, str]:
    host, port = _tcp_address(spec, base_url)
    if not 1 <= port <= 65535:
        raise _ProbeError(f"port {port} is not between 1 and 65535")
    start = time.perf_counter()
    _connect(host, port, spec.timeout_seconds).close()
    latency = _ms(start)
    ok, detail = check_latency(spec, latency, f"TCP {host}:{port} connected in {latency:.0f} ms")
    return ("ok" if ok else "fail"), latency, detail


RUNNERS: dict[str, Callable[[ProbeSpec, str, _Secrets], tuple[str, float | None, str]]] = {
    "http": _run_http, "prometheus": _run_prometheus, "websocket": _run_websocket, "tcp": _run_tcp,
}


def run_probe(spec: ProbeSpec, base_url: str, *, target: str,
              env: Mapping[str, str] | None = None) -> Measurement:
    """Run ``spec`` once against ``base_url`` (``http://host:port[/prefix]``). Never raises."""
    at = time.time()
    secrets: _Secrets | None = None
    try:
        secrets = _Secrets(spec, os.environ if env is None else env)
        outcome, latency, detail = RUNNERS[spec.kind](spec, base_url, secrets)
    except _ProbeError as exc:
        outcome, latency, detail = "error", None, str(exc)
    except Exception as exc:  # a bug or an exotic library error must not stop the controller's loop
        outcome, latency, detail = "error", None, f"probe crashed: {type(exc).__name__}: {_reason(exc)}"
    if secrets is not None:
        detail = secrets.mask(detail)
    return Measurement(spec.name, target, at, outcome, latency, detail)  # type: ignore[arg-type]


def run_probes(specs: Sequence[ProbeSpec], base_url: str, *, target: str,
               env: Mapping[str, str] | None = None) -> list[Measurement]:
    """Run every probe once, concurrently (threads); results in the order of ``specs``."""
    specs = list(specs)
    if not specs:
        return []
    environment = dict(os.environ if env is None else env)
    with ThreadPoolExecutor(max_workers=min(len(specs), 16), thread_name_prefix="probe") as pool:
        return list(pool.map(lambda s: run_probe(s, base_url, target=target, env=environment), specs))


__all__ = ["run_probe", "run_probes"]

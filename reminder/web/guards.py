"""Protections around every request: security headers, a bounded body, the client's
address (believed from X-Forwarded-For only when a trusted proxy sends it)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: No inline script or style, nothing from another host, never inside a frame.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    # The calendar feed's URL holds a token: it must never travel in a Referer.
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


class SecurityHeaders:
    """ASGI middleware adding SECURITY_HEADERS to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    # A page may set a policy of its own (a mail preview's inline styles).
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware answering 413 to a request body longer than `limit` bytes,
    whether it says so in Content-Length or not (the body is counted as it arrives)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > self.limit:
            await _too_large(send)
            return
        received, started = 0, False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise _TooLarge
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except _TooLarge:
            if not started:
                await _too_large(send)


async def _too_large(send: Send) -> None:
    body = b"The file is too large for this server (see [web] max_upload_megabytes).\n"
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"text/plain; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": body})


Networks = Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]


def parse_networks(texts: Sequence[str]) -> Networks:
    """Return the networks `texts` name ([web] trusted_proxies, already checked)."""
    return [ipaddress.ip_network(text, strict=False) for text in texts]


def is_trusted(address: str, trusted: Networks) -> bool:
    """Return whether `address` is one of the trusted proxies."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def peer_is_trusted(request: Request, trusted: Networks) -> bool:
    """Return whether the connection comes straight from a trusted proxy."""
    return request.client is not None and is_trusted(request.client.host, trusted)


def client_address(request: Request, trusted: Networks) -> str:
    """Return the address of the client: the peer, or, when the peer is a trusted proxy,
    the nearest untrusted address in its X-Forwarded-For."""
    peer = request.client.host if request.client is not None else "unknown"
    if not is_trusted(peer, trusted):
        return peer
    forwarded = [part.strip() for part in request.headers.get("x-forwarded-for", "").split(",")]
    for address in reversed([part for part in forwarded if part]):
        if not is_trusted(address, trusted):
            return address
    return peer

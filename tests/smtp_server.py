"""A real SMTP server for tests: aiosmtpd in a thread, with TLS, AUTH and faults on demand.

    with SmtpTestServer(certificate_authority=ca) as server:   # STARTTLS + AUTH required
        ... send to server.host:server.port, trusting `ca` ...
    server.messages    # what arrived: envelope, raw bytes, session, login, TLS
    server.commands    # every command the server acted on, with its session and TLS state

Certificates come from a throwaway `trustme.CA`; give the server a second CA the client
does not trust to test certificate checks. `Faults` makes the server misbehave in the
ways real ones do. The fixtures in conftest.py (`smtp_server`, `start_smtp_server`,
`smtp_ca`, `smtp_ca_file`, `untrusted_ca`) wrap this module.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import random
import ssl
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, AnyStr, Literal, Protocol, Self

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, LoginPassword, Session

from reminder.config.schema import SecretRef, SmtpConfig

HOST = "127.0.0.1"
USERNAME = "reminder"
PASSWORD = "correct horse battery staple"

#: How the server offers TLS: STARTTLS on a plain connection, implicit TLS from the first
#: byte (port 465 style), or not at all.
ServerTls = Literal["starttls", "implicit", "none"]

_TRANSACTION_VERBS = frozenset({"MAIL", "RCPT", "DATA"})


@dataclass(frozen=True)
class Faults:
    """Ways the server misbehaves; the default is a well-behaved server.

    greeting_reply: sent instead of the 220 greeting, then the server hangs up
        (e.g. "421 4.3.2 Too busy").
    stall_greeting: never send a greeting.
    mail_reply: the reply to MAIL FROM instead of 250 (e.g. "550 5.7.1 Sender refused").
    rcpt_replies: the reply to RCPT for these addresses (e.g. "550 5.1.1 No such user");
        other addresses are accepted.
    data_reply: the reply after the message body instead of 250; the message is not kept.
    drop_after_data: keep the message, then hang up without replying.
    stall_after_data: keep the message, then never reply.
    reply_delay_seconds: wait this long before each reply to MAIL, RCPT and DATA.
    drop_idle_connection: after a message was accepted, hang up silently when the next
        command arrives, as a server whose idle timer fired looks to a client that has
        not noticed yet.
    auth_in_clear: offer and accept AUTH without TLS, as a server looks to a client when
        an attacker has stripped STARTTLS from its replies.
    """

    greeting_reply: str | None = None
    stall_greeting: bool = False
    mail_reply: str | None = None
    rcpt_replies: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    data_reply: str | None = None
    drop_after_data: bool = False
    stall_after_data: bool = False
    reply_delay_seconds: float = 0.0
    drop_idle_connection: bool = False
    auth_in_clear: bool = False


class EveryAddress(Mapping[str, str]):
    """`Faults.rcpt_replies` that give `reply` to RCPT for whatever address is asked."""

    def __init__(self, reply: str) -> None:
        self.reply = reply

    def __getitem__(self, address: str) -> str:
        return self.reply

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


#: Picks the faults of one session from its number (0, 1, ...); see RandomFaults.
FaultPlan = Callable[[int], Faults]


class RandomFaults:
    """A FaultPlan failing a share of the sessions, each with a fault drawn at random.

    `rate` is the share of sessions that fail: of every BLOCK sessions in a row,
    round(rate * BLOCK) fail, at places drawn at random, so the share holds over a short
    run too. A failing session gets one of `kinds` (name -> Faults), drawn evenly. The
    draws come from a Random seeded with `seed`: a run is repeatable when sessions open in
    the same order. `injected` counts the faults handed out by name; set `enabled` to
    False to serve well from the next session on.
    """

    BLOCK = 20

    def __init__(self, kinds: Mapping[str, Faults], *, rate: float, seed: int) -> None:
        self.kinds = dict(kinds)
        self.failing_per_block = round(rate * self.BLOCK)
        self.enabled = True
        self.injected: Counter[str] = Counter()
        self._random = random.Random(seed)
        self._block: list[bool] = []
        self._lock = threading.Lock()

    def __call__(self, session: int) -> Faults:
        with self._lock:
            if not self.enabled:
                return Faults()
            if not self._block:
                self._block = [True] * self.failing_per_block
                self._block += [False] * (self.BLOCK - self.failing_per_block)
                self._random.shuffle(self._block)
            if not self._block.pop():
                return Faults()
            name = self._random.choice(sorted(self.kinds))
            self.injected[name] += 1
            return self.kinds[name]


@dataclass(frozen=True)
class ReceivedMessage:
    """A message the server received.

    `acknowledged` is False when a fault kept the server from confirming it. `login` is
    the authenticated username, None without AUTH; `tls` says whether it came encrypted.
    """

    session: int
    sender: str
    recipients: tuple[str, ...]
    raw: bytes
    acknowledged: bool
    login: str | None
    tls: bool

    def parse(self) -> EmailMessage:
        """Return the message parsed with the modern e-mail policy."""
        return email.message_from_bytes(self.raw, policy=email.policy.default)


@dataclass(frozen=True)
class ServerCommand:
    """A command the server acted on: its verb (upper case), session and TLS state.

    Arguments are not kept: AUTH would carry the password.
    """

    session: int
    verb: str
    tls: bool


class SmtpTestServer:
    """An SMTP server on 127.0.0.1 and a free port, in a thread of its own.

    `credentials` (username, password) makes AUTH required before MAIL; None accepts
    anyone. With tls="starttls" the server insists on STARTTLS and refuses AUTH in
    clear; with "none" it never offers TLS, so AUTH cannot succeed unless
    `faults.auth_in_clear` allows it. Sessions are numbered
    from 0 in the order clients connect. `idle_timeout_seconds` is how long the server
    waits for a command before hanging up. `fault_plan`, when given, picks each
    session's faults instead of `faults` (which still decides the AUTH-in-clear setting).
    """

    def __init__(
        self,
        tls: ServerTls = "starttls",
        *,
        certificate_authority: trustme.CA | None = None,
        credentials: tuple[str, str] | None = (USERNAME, PASSWORD),
        faults: Faults = Faults(),
        idle_timeout_seconds: float = 300.0,
        fault_plan: FaultPlan | None = None,
    ) -> None:
        if tls != "none" and certificate_authority is None:
            raise ValueError(f"tls={tls!r} needs a certificate_authority")
        self.tls = tls
        self.credentials = credentials
        self.faults = faults
        self.fault_plan = fault_plan
        self.host = HOST
        self.port = 0
        self._lock = threading.Lock()
        self._messages: list[ReceivedMessage] = []
        self._commands: list[ServerCommand] = []
        self._session_count = 0
        self._recording = False
        context = None
        if certificate_authority is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            certificate_authority.issue_cert(HOST, "localhost").configure_cert(context)
        self._controller = _Controller(
            self,
            ssl_context=context if tls == "implicit" else None,
            tls_context=context if tls == "starttls" else None,
            require_starttls=tls == "starttls",
            # Implicit TLS is encryption aiosmtpd does not see; AUTH is safe there.
            auth_require_tls=tls != "implicit" and not faults.auth_in_clear,
            authenticator=self._authenticate,
            timeout=idle_timeout_seconds,
        )

    # --- running ---

    def start(self) -> None:
        """Start listening; return once the server answers."""
        self._controller.start()
        # aiosmtpd connects once to check the server is up; that session is not a test's.
        with self._lock:
            self._recording = True

    def stop(self) -> None:
        """Stop the server, hanging up on any client and ending every stalled reply."""
        self._controller.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- what happened ---

    @property
    def messages(self) -> tuple[ReceivedMessage, ...]:
        """Return the messages received so far, oldest first."""
        with self._lock:
            return tuple(self._messages)

    @property
    def commands(self) -> tuple[ServerCommand, ...]:
        """Return the commands acted on so far, oldest first."""
        with self._lock:
            return tuple(self._commands)

    @property
    def session_count(self) -> int:
        """Return how many connections clients have opened."""
        with self._lock:
            return self._session_count

    def verbs(self, session: int | None = None) -> list[str]:
        """Return the command verbs in order, of one session or of all."""
        return [c.verb for c in self.commands if session is None or c.session == session]

    # --- called from the server thread ---

    def _open_session(self) -> int | None:
        """Return the number of a new session, or None for aiosmtpd's own check."""
        with self._lock:
            if not self._recording:
                return None
            self._session_count += 1
            return self._session_count - 1

    def _faults_for(self, session: int | None) -> Faults:
        """Return the faults of session number `session` (None: aiosmtpd's own check)."""
        if session is None:
            return Faults()
        return self.fault_plan(session) if self.fault_plan is not None else self.faults

    def _record_command(self, command: ServerCommand) -> None:
        with self._lock:
            self._commands.append(command)

    def _record_message(self, message: ReceivedMessage) -> None:
        with self._lock:
            self._messages.append(message)

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if self.credentials is None or not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        username, password = self.credentials
        accepted = data.login == username.encode() and data.password == password.encode()
        return AuthResult(success=accepted, handled=False, auth_data=data)


def client_config(
    server: SmtpTestServer,
    ca_file: Path | None,
    *,
    security: Literal["starttls", "tls", "none"] | None = None,
    username: str | None = USERNAME,
    timeout_seconds: float = 5.0,
) -> SmtpConfig:
    """Return the [smtp] settings a client needs to reach `server`.

    `security` defaults to what the server offers; `username` is None to skip AUTH.
    The password is not part of SmtpConfig: pass PASSWORD to the transport.
    """
    offered: dict[ServerTls, Literal["starttls", "tls", "none"]] = {
        "starttls": "starttls",
        "implicit": "tls",
        "none": "none",
    }
    return SmtpConfig(
        host=server.host,
        port=server.port,
        security=security or offered[server.tls],
        username=username,
        password=SecretRef(),
        ca_file=ca_file,
        timeout_seconds=timeout_seconds,
    )


class StartSmtpServer(Protocol):
    """The `start_smtp_server` fixture: start a server; it stops after the test."""

    def __call__(
        self,
        tls: ServerTls = "starttls",
        *,
        certificate_authority: trustme.CA | None = None,
        credentials: tuple[str, str] | None = (USERNAME, PASSWORD),
        faults: Faults = Faults(),
        idle_timeout_seconds: float = 300.0,
        fault_plan: FaultPlan | None = None,
    ) -> SmtpTestServer: ...


# --- aiosmtpd plumbing -----------------------------------------------------------------


class _Controller(Controller):
    """aiosmtpd's threaded controller, on a port the system picks, with our sessions."""

    def __init__(self, owner: SmtpTestServer, **options: Any) -> None:
        super().__init__(_Handler(owner), hostname=HOST, port=0, **options)
        self._owner = owner
        self._sessions: list[_RecordingSMTP] = []  # touched only in the server's thread

    def factory(self) -> SMTP:
        session = _RecordingSMTP(self._owner, self.handler, **self.SMTP_kwargs)
        self._sessions.append(session)
        return session

    def stop(self, no_assert: bool = False) -> None:
        # aiosmtpd's stop() leaves open connections to the garbage collector, which
        # reports them as unclosed sockets in whatever test runs next.
        if self._thread is not None and self.loop.is_running():
            asyncio.run_coroutine_threadsafe(self._hang_up_on_everyone(), self.loop).result()
        super().stop(no_assert)

    async def _hang_up_on_everyone(self) -> None:
        # A session's transport is None before the connection is made (or its TLS
        # handshake failed) and again once it is lost.
        for session in self._sessions:
            if isinstance(session.transport, asyncio.WriteTransport):
                session.transport.abort()
        for _ in range(200):  # connection_lost runs on a later turn of the loop
            if all(session.transport is None for session in self._sessions):
                return
            await asyncio.sleep(0.01)

    def _create_server(self) -> Awaitable[asyncio.AbstractServer]:
        # Binding port 0 and reading the port back leaves no window for another process
        # to take it, unlike picking a free port first.
        async def bind() -> asyncio.AbstractServer:
            server = await self.loop.create_server(
                self._factory_invoker, host=self.hostname, port=0, ssl=self.ssl_context
            )
            self.port = self._owner.port = server.sockets[0].getsockname()[1]
            return server

        return bind()


class _RecordingSMTP(SMTP):
    """One session: records each command and applies the connection-level faults."""

    def __init__(self, owner: SmtpTestServer, handler: _Handler, **options: Any) -> None:
        super().__init__(handler, **options)
        self.owner = owner
        self.number = owner._open_session()
        self.faults = owner._faults_for(self.number)
        self.message_accepted = False
        self._verb = ""
        self._greeted = False
        # aiosmtpd 1.4 dispatches every command through this table; wrapping it is the
        # one place that sees them all.
        self._smtp_methods = {
            verb: self._recorded(verb, method) for verb, method in self._smtp_methods.items()
        }

    @property
    def encrypted(self) -> bool:
        return (
            self.transport is not None and self.transport.get_extra_info("ssl_object") is not None
        )

    def _recorded(
        self, verb: str, method: Callable[[str | None], Awaitable[None]]
    ) -> Callable[[str | None], Awaitable[None]]:
        async def run(argument: str | None) -> None:
            if self.number is not None:
                self.owner._record_command(ServerCommand(self.number, verb, self.encrypted))
            if self.faults.drop_idle_connection and self.message_accepted:
                await self.hang_up()
            self._verb = verb
            await method(argument)

        return run

    async def push(self, status: AnyStr) -> None:
        if not self._greeted:
            self._greeted = True
            if self.faults.stall_greeting:
                await _forever()
            if self.faults.greeting_reply is not None:
                await super().push(self.faults.greeting_reply)
                await self.hang_up()
        elif self._verb in _TRANSACTION_VERBS:
            await asyncio.sleep(self.faults.reply_delay_seconds)
        await super().push(status)

    async def hang_up(self) -> None:
        """Drop the connection without a word (nor a TLS goodbye); never returns."""
        assert isinstance(self.transport, asyncio.WriteTransport)
        self.transport.abort()
        # Losing the connection cancels the task serving this session; wait for that.
        await _forever()


class _Handler:
    """aiosmtpd hooks: AUTH before MAIL, per-recipient replies, keeping messages."""

    def __init__(self, owner: SmtpTestServer) -> None:
        self.owner = owner

    async def handle_MAIL(
        self,
        server: _RecordingSMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        options: list[str],
    ) -> object:
        if self.owner.credentials is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        return server.faults.mail_reply or MISSING

    async def handle_RCPT(
        self,
        server: _RecordingSMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        options: list[str],
    ) -> object:
        return server.faults.rcpt_replies.get(address, MISSING)

    async def handle_DATA(
        self, server: _RecordingSMTP, session: Session, envelope: Envelope
    ) -> str:
        faults = server.faults
        if faults.data_reply is not None:
            return faults.data_reply
        silent = faults.drop_after_data or faults.stall_after_data
        if server.number is not None:
            auth = session.auth_data
            self.owner._record_message(
                ReceivedMessage(
                    session=server.number,
                    sender=envelope.mail_from or "",
                    recipients=tuple(envelope.rcpt_tos),
                    raw=bytes(envelope.original_content or b""),
                    acknowledged=not silent,
                    login=auth.login.decode() if isinstance(auth, LoginPassword) else None,
                    tls=server.encrypted,
                )
            )
        if faults.drop_after_data:
            await server.hang_up()
        if faults.stall_after_data:
            await _forever()
        server.message_accepted = True
        return "250 2.0.0 OK queued"


async def _forever() -> None:
    """Wait until cancelled: the client hangs up, or the server stops."""
    await asyncio.Event().wait()

"""The SMTP transport: already-built messages carried to an SMTP server by aiosmtplib.

The only module that imports aiosmtplib.

Whether a failure is worth a retry (`DeliveryError.permanent`):

- the session (connect, greeting, EHLO, STARTTLS, certificate check, AUTH) fails:
  temporary, even for a 5xx reply or a rejected password. These are server or
  configuration problems, not faults of the message; the message stays pending and is
  sent once the operator has fixed them. Problems that will not fix themselves (unknown
  CA, STARTTLS not offered, password refused) are logged as errors.
- the server refuses the sender (MAIL FROM): temporary, since the sender is the same for
  every message and its refusal is a configuration or account problem; except 552, the
  message is too large, which is permanent.
- a recipient (RCPT) or the message (DATA) is refused: a 5xx reply is permanent, a 4xx
  reply temporary. Replies asking for authentication or encryption (530, 534, 535, 538)
  are temporary wherever they come, being configuration problems.
- the connection drops or a timeout expires during a transaction: temporary. If that
  happens after the message body went out, the server may have accepted it anyway; a
  retry can then deliver a duplicate, recognisable by its unchanged Message-ID.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from pathlib import Path
from typing import TypeVar

import aiosmtplib

from reminder.config.schema import SmtpConfig
from reminder.errors import ConfigError, DeliveryError
from reminder.mail.transport import DeliveryResult, Envelope, RecipientRefusal, Transport

logger = logging.getLogger(__name__)

# RFC 4954 / RFC 3207 replies that are about our credentials or encryption.
_CONFIGURATION_CODES = frozenset({530, 534, 535, 538})
# RFC 1870: the message exceeds the server's size limit.
_MESSAGE_TOO_LARGE = 552

_E = TypeVar("_E", bound=BaseException)


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """Return a context that verifies the server against `ca_file`, or the system's CAs."""
    try:
        return ssl.create_default_context(cafile=None if ca_file is None else str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"smtp.ca_file: cannot load {ca_file}: {exc}") from None


class SmtpTransport(Transport):
    """Sends through one SMTP connection, opened on the first send and reused.

    STARTTLS, when configured, is required: without it nothing but EHLO is sent. A
    connection the server dropped between messages is replaced once. After a session
    failure (connect, TLS, AUTH) the remaining messages fail at once with the same
    temporary error, so a dead server costs one timeout per run, not one per message;
    close() clears that. Sends are serialised: one connection carries one transaction
    at a time.
    """

    def __init__(
        self, settings: SmtpConfig, *, password: str | None, tls_context: ssl.SSLContext | None
    ) -> None:
        self._settings = settings
        self._password = password
        self._tls_context = tls_context
        self._server = f"{settings.host}:{settings.port}"
        self._client: aiosmtplib.SMTP | None = None
        self._session_failure: DeliveryError | None = None
        self._lock = asyncio.Lock()

    async def send(self, raw: bytes, envelope: Envelope, message_id: str) -> DeliveryResult:
        """Send `raw` unchanged to `envelope.recipients`; return what the server said.

        The connection (including any reconnect) and the transaction are each bounded
        by smtp.timeout_seconds as a whole.
        """
        async with self._lock:
            client = None
            if self._session_failure is None:
                try:
                    client = await self._ready_client()
                except Exception as exc:  # every way a session can fail becomes a result
                    self._session_failure = self._session_error(exc)
            if client is None:
                assert self._session_failure is not None
                logger.warning("%s not sent: %s", message_id, self._session_failure)
                return DeliveryResult.failure(self._session_failure)
            return await self._transact(client, raw, envelope, message_id)

    async def close(self) -> None:
        """Say QUIT and close the connection; errors on the way out are ignored."""
        async with self._lock:
            client, self._client = self._client, None
            self._session_failure = None
            if client is None:
                return
            # quit() forgets the transport; keep it to hang up for sure.
            transport = client.transport
            try:
                if client.is_connected:
                    async with asyncio.timeout(self._settings.timeout_seconds):
                        await client.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                logger.debug("QUIT to %s failed: %s", self._server, exc)
            finally:
                _hang_up(client, transport)

    async def _ready_client(self) -> aiosmtplib.SMTP:
        """Return a connected, authenticated client: the current one, or a new one."""
        async with asyncio.timeout(self._settings.timeout_seconds):
            if self._client is not None:
                client, self._client = self._client, None
                if await _still_open(client):
                    self._client = client
                    return client
                logger.info("%s closed the connection; reconnecting", self._server)
            self._client = await self._connect()
            return self._client

    async def _connect(self) -> aiosmtplib.SMTP:
        settings = self._settings
        client = aiosmtplib.SMTP(
            hostname=settings.host,
            port=settings.port,
            # Every call below runs under asyncio.timeout, which bounds the whole
            # connect and the whole transaction; a second, per-command clock would
            # only race it.
            timeout=None,
            use_tls=settings.security == "tls",
            # STARTTLS is done below, by hand, so that its absence stops everything with
            # a message of its own (aiosmtplib's default, start_tls=None, would carry on
            # in clear).
            start_tls=False,
            tls_context=self._tls_context,
        )
        await client.connect()
        try:
            if settings.security == "starttls":
                await client.ehlo()
                if not client.supports_extension("starttls"):
                    raise DeliveryError(
                        f"{self._server} does not offer STARTTLS, which security = "
                        '"starttls" requires; nothing else was sent',
                        permanent=False,
                    )
                await client.starttls()
            if settings.security != "none" and client.get_transport_info("sslcontext") is None:
                raise DeliveryError(
                    f"{self._server}: the connection is not encrypted", permanent=False
                )
            if settings.username is not None:
                if settings.security == "none":
                    logger.warning('security is "none": the SMTP password goes unencrypted')
                await client.login(settings.username, self._password or "")
        except BaseException:
            _hang_up(client)
            raise
        logger.debug("connected to %s", self._server)
        return client

    def _session_error(self, exc: Exception) -> DeliveryError:
        """Return the temporary error for a failed session, logged at its level."""
        server = self._server
        configuration = True
        verification = _cause(exc, ssl.SSLCertVerificationError)
        if isinstance(exc, DeliveryError):
            error = exc
        elif verification is not None:
            error = DeliveryError(
                f"{server}: the server's certificate was not accepted "
                f"({verification.verify_message}); if a private CA signed it, "
                "name that CA in smtp.ca_file",
                permanent=False,
            )
        elif isinstance(exc, ssl.SSLError):
            error = DeliveryError(f"{server}: TLS failed: {exc}", permanent=False)
        elif isinstance(exc, TimeoutError):
            configuration = False
            error = DeliveryError(
                f"{server}: no answer within {self._settings.timeout_seconds:g} s while connecting",
                permanent=False,
            )
        elif isinstance(exc, aiosmtplib.SMTPAuthenticationError):
            error = DeliveryError(
                f"{server} refused the username or password: {exc.code} {exc.message}",
                permanent=False,
            )
        elif isinstance(exc, aiosmtplib.SMTPResponseException):
            configuration = exc.code >= 500
            error = DeliveryError(
                f"{server} refused the session: {exc.code} {exc.message}", permanent=False
            )
        elif isinstance(exc, OSError):  # includes refused and dropped connections
            configuration = False
            error = DeliveryError(f"{server}: cannot connect: {exc}", permanent=False)
        elif isinstance(exc, aiosmtplib.SMTPException):  # e.g. AUTH not offered
            error = DeliveryError(f"{server}: {exc.message}", permanent=False)
        else:
            raise exc
        logger.log(logging.ERROR if configuration else logging.WARNING, "%s", error)
        return error

    async def _transact(
        self, client: aiosmtplib.SMTP, raw: bytes, envelope: Envelope, message_id: str
    ) -> DeliveryResult:
        """Run MAIL, RCPT and DATA for one message; return the per-recipient result."""
        addresses = (envelope.sender, *envelope.recipients)
        options = [] if all(address.isascii() for address in addresses) else ["SMTPUTF8"]
        try:
            async with asyncio.timeout(self._settings.timeout_seconds):
                refusals, reply = await client.sendmail(
                    envelope.sender, list(envelope.recipients), raw, mail_options=options
                )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = {r.recipient: _refusal(r.code, r.message) for r in exc.recipients}
            permanent = all(refusal.permanent for refusal in refused.values())
            error = DeliveryError(f"{self._server} refused every recipient", permanent=permanent)
            result = DeliveryResult(accepted=(), refused=refused, error=error)
        except aiosmtplib.SMTPSenderRefused as exc:
            permanent = exc.code == _MESSAGE_TOO_LARGE
            error = DeliveryError(
                f"{self._server} refused the sender {exc.sender}: {exc.code} {exc.message}",
                permanent=permanent,
            )
            result = DeliveryResult.failure(error)
        except aiosmtplib.SMTPResponseException as exc:
            error = DeliveryError(
                f"{self._server} refused the message: {exc.code} {exc.message}",
                permanent=_is_permanent(exc.code),
            )
            result = DeliveryResult.failure(error)
        except (aiosmtplib.SMTPNotSupported, ValueError) as exc:
            # An address the server cannot take (non-ASCII without SMTPUTF8, a line
            # break): sending it again will not help.
            result = DeliveryResult.failure(DeliveryError(str(exc), permanent=True))
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            _hang_up(client)
            self._client = None
            detail = "no answer in time" if isinstance(exc, TimeoutError) else str(exc)
            error = DeliveryError(
                f"{self._server}: connection lost before the server confirmed the message "
                f"({detail}); it may have arrived, and a retry may duplicate it",
                permanent=False,
            )
            result = DeliveryResult.failure(error)
        else:
            refused = {address: _refusal(r.code, r.message) for address, r in refusals.items()}
            accepted = tuple(r for r in envelope.recipients if r not in refused)
            result = DeliveryResult(accepted=accepted, refused=refused)
            logger.info(
                "delivered %s to %s via %s: %s",
                message_id,
                ", ".join(accepted),
                self._server,
                reply,
            )
        _log_problems(message_id, result)
        return result


async def _still_open(client: aiosmtplib.SMTP) -> bool:
    """Return True when `client` is connected and answers NOOP; hang up otherwise.

    An idle server may have closed the connection without our noticing yet; a NOOP
    finds out before a transaction starts, when reconnecting is still safe.
    """
    try:
        if client.is_connected:
            await client.noop()
            return True
    except (aiosmtplib.SMTPException, OSError):
        pass
    except BaseException:
        _hang_up(client)
        raise
    _hang_up(client)
    return False


def _hang_up(client: aiosmtplib.SMTP, transport: asyncio.BaseTransport | None = None) -> None:
    """Drop `client`'s connection at once, without waiting for the TLS goodbye.

    Used when the session is over or broken. A polite TLS close waits for the server's
    answer, which a stalled server never sends, holding the socket open meanwhile.
    """
    transport = transport or client.transport
    if isinstance(transport, asyncio.WriteTransport):
        transport.abort()
    client.close()


def _is_permanent(code: int) -> bool:
    return 500 <= code < 600 and code not in _CONFIGURATION_CODES


def _refusal(code: int, message: str) -> RecipientRefusal:
    return RecipientRefusal(code=code, message=message, permanent=_is_permanent(code))


def _cause(exc: BaseException, kind: type[_E]) -> _E | None:
    """Return the first exception of `kind` in the chain of causes from `exc`."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _log_problems(message_id: str, result: DeliveryResult) -> None:
    for address, refusal in result.refused.items():
        kind = "permanent" if refusal.permanent else "temporary"
        logger.warning(
            "%s: recipient %s refused (%s): %d %s",
            message_id,
            address,
            kind,
            refusal.code,
            refusal.message,
        )
    if result.error is not None:
        level = logging.ERROR if result.error.permanent else logging.WARNING
        logger.log(level, "%s not delivered: %s", message_id, result.error)

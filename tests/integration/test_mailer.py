"""Delivering messages to a real in-process SMTP server, and into the outbox folder."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import socket
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any, TypeVar

import pytest
import trustme
from smtp_server import PASSWORD, USERNAME, Faults, SmtpTestServer, StartSmtpServer, client_config

from reminder.config.schema import MailConfig, SecretRef, SmtpConfig
from reminder.errors import ConfigError
from reminder.mail.configured import open_transport
from reminder.mail.outbox import OutboxTransport, outbox_file_name
from reminder.mail.smtp import SmtpTransport
from reminder.mail.transport import DeliveryResult, Envelope, RecipientRefusal, Transport

T = TypeVar("T")

SENDER = "reminder@example.edu"
AYSE = "ayse.yilmaz@example.edu"
MEHMET = "mehmet.demir@example.edu"
# Lines a careless transport would change: a leading dot (SMTP dot-stuffing), non-ASCII.
SCENARIO_LIMIT_SECONDS = 15
BODY = "Dear Ayşe,\n\n.two agreements expire within 30 days.\n.\nKind regards\n"


@dataclass(frozen=True)
class Outgoing:
    raw: bytes
    envelope: Envelope
    message_id: str


def make_message(to: str = AYSE, cc: tuple[str, ...] = (MEHMET,), subject: str = "") -> Outgoing:
    """Return a rendered digest the way mime.py builds them: policy.SMTP bytes."""
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = Address("Agreement reminders", addr_spec=SENDER)
    message["To"] = to
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Subject"] = subject or "Agreements to renew"
    message["Message-ID"] = make_msgid(domain="reminder.test")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(BODY)
    return Outgoing(
        raw=message.as_bytes(policy=email.policy.SMTP),
        envelope=Envelope(SENDER, (to, *cc)),
        message_id=message["Message-ID"],
    )


def mail_config(tmp_path: Path, transport: str = "smtp") -> MailConfig:
    return MailConfig(
        transport=transport,
        sender=f"Agreement reminders <{SENDER}>",
        reply_to=None,
        outbox_dir=tmp_path / "outbox",
        templates_dir=None,
    )


def smtp_transport(
    tmp_path: Path, settings: SmtpConfig, password: str | None = PASSWORD
) -> Transport:
    return open_transport(mail_config(tmp_path), settings, password=password)


def run(scenario: Coroutine[Any, Any, T]) -> T:
    """Run `scenario`; a transport that forgets a timeout fails the test, not hangs it."""

    async def bounded() -> T:
        async with asyncio.timeout(SCENARIO_LIMIT_SECONDS):
            return await scenario

    return asyncio.run(bounded())


def send_all(transport: Transport, *messages: Outgoing) -> list[DeliveryResult]:
    """Send `messages` in order over `transport`, close it; return the results."""

    async def scenario() -> list[DeliveryResult]:
        async with transport:
            return [await transport.send(m.raw, m.envelope, m.message_id) for m in messages]

    return run(scenario())


def failure_of(result: DeliveryResult) -> tuple[bool, str]:
    """Return (permanent, message) of a result that must have failed as a whole."""
    assert result.error is not None, result
    assert result.accepted == ()
    return result.error.permanent, str(result.error)


# --- delivering -------------------------------------------------------------------------


def test_starttls_auth_and_exact_bytes(
    tmp_path: Path,
    smtp_server: SmtpTestServer,
    smtp_ca_file: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    message = make_message()
    caplog.set_level(logging.DEBUG, logger="reminder")

    (result,) = send_all(
        smtp_transport(tmp_path, client_config(smtp_server, smtp_ca_file)), message
    )

    assert result == DeliveryResult(accepted=(AYSE, MEHMET))
    assert result.delivered
    (received,) = smtp_server.messages
    assert received.raw == message.raw
    assert (received.sender, received.recipients) == (SENDER, (AYSE, MEHMET))
    assert (received.login, received.tls, received.acknowledged) == (USERNAME, True, True)
    assert received.parse()["Message-ID"] == message.message_id
    # Nothing but EHLO and STARTTLS in clear; the password only inside TLS.
    in_clear = [c.verb for c in smtp_server.commands if not c.tls]
    assert in_clear == ["EHLO", "STARTTLS"]
    assert smtp_server.verbs() == [
        "EHLO",
        "STARTTLS",
        "EHLO",
        "AUTH",
        "MAIL",
        "RCPT",
        "RCPT",
        "DATA",
        "QUIT",
    ]
    delivered = [
        r for r in caplog.records if r.levelno == logging.INFO and "delivered" in r.message
    ]
    assert [r.name for r in delivered] == ["reminder.mail.smtp"]
    assert message.message_id in delivered[0].message
    assert PASSWORD not in caplog.text
    assert "two agreements expire" not in caplog.text


def test_one_connection_carries_every_message_of_a_run(
    tmp_path: Path, smtp_server: SmtpTestServer, smtp_ca_file: Path
) -> None:
    messages = [make_message(subject=f"Digest {index}") for index in range(3)]

    results = send_all(
        smtp_transport(tmp_path, client_config(smtp_server, smtp_ca_file)), *messages
    )

    assert [r.delivered for r in results] == [True, True, True]
    assert smtp_server.session_count == 1
    assert [m.raw for m in smtp_server.messages] == [m.raw for m in messages]
    verbs = smtp_server.verbs()
    assert verbs.count("AUTH") == 1
    assert verbs.count("DATA") == 3
    assert verbs[-1] == "QUIT"


def test_reconnects_after_the_server_closed_an_idle_connection(
    tmp_path: Path, start_smtp_server: StartSmtpServer, smtp_ca_file: Path
) -> None:
    server = start_smtp_server(idle_timeout_seconds=0.3)
    transport = smtp_transport(tmp_path, client_config(server, smtp_ca_file))
    first, second = make_message(), make_message()

    async def scenario() -> list[DeliveryResult]:
        async with transport:
            results = [await transport.send(first.raw, first.envelope, first.message_id)]
            await asyncio.sleep(0.8)  # the server hangs up after 0.3 s without a command
            results.append(await transport.send(second.raw, second.envelope, second.message_id))
            return results

    results = run(scenario())

    assert [r.delivered for r in results] == [True, True]
    assert server.session_count == 2
    assert [(m.session, m.raw) for m in server.messages] == [(0, first.raw), (1, second.raw)]


def test_reconnects_when_a_dropped_connection_was_not_noticed(
    tmp_path: Path, start_smtp_server: StartSmtpServer, smtp_ca_file: Path
) -> None:
    server = start_smtp_server(faults=Faults(drop_idle_connection=True))
    first, second = make_message(), make_message()

    results = send_all(smtp_transport(tmp_path, client_config(server, smtp_ca_file)), first, second)

    assert [r.delivered for r in results] == [True, True]
    assert server.session_count == 2
    # The NOOP before the second message found the connection dead; nothing was lost.
    assert server.verbs(0)[-1] == "NOOP"
    assert [(m.session, m.raw) for m in server.messages] == [(0, first.raw), (1, second.raw)]


def test_implicit_tls(
    tmp_path: Path, start_smtp_server: StartSmtpServer, smtp_ca_file: Path
) -> None:
    server = start_smtp_server("implicit")
    message = make_message()

    (result,) = send_all(smtp_transport(tmp_path, client_config(server, smtp_ca_file)), message)

    assert result.delivered
    (received,) = server.messages
    assert (received.raw, received.login, received.tls) == (message.raw, USERNAME, True)
    assert all(c.tls for c in server.commands)
    assert "STARTTLS" not in server.verbs()


def test_no_security_and_no_auth(tmp_path: Path, start_smtp_server: StartSmtpServer) -> None:
    server = start_smtp_server("none", credentials=None)
    message = make_message()
    settings = client_config(server, None, username=None)

    (result,) = send_all(smtp_transport(tmp_path, settings, password=None), message)

    assert result.delivered
    (received,) = server.messages
    assert (received.raw, received.login, received.tls) == (message.raw, None, False)
    assert "AUTH" not in server.verbs()


def test_non_ascii_recipient_goes_with_smtputf8(
    tmp_path: Path, smtp_server: SmtpTestServer, smtp_ca_file: Path
) -> None:
    message = make_message(to="ayşe@example.edu", cc=())

    (result,) = send_all(
        smtp_transport(tmp_path, client_config(smtp_server, smtp_ca_file)), message
    )

    assert result.accepted == ("ayşe@example.edu",)
    assert smtp_server.messages[0].recipients == ("ayşe@example.edu",)


# --- replies that refuse ------------------------------------------------------------------


def test_one_recipient_refused_permanently_the_other_accepted(
    tmp_path: Path, start_smtp_server: StartSmtpServer, smtp_ca_file: Path
) -> None:
    refusal = "550 5.1.1 No such user"
    server = start_smtp_server(faults=Faults(rcpt_replies={MEHMET: refusal}))
    message = make_message()

    (result,) = send_all(smtp_transport(tmp_path, client_config(server, smtp_ca_file)), message)

    assert result.accepted == (AYSE,)
    assert result.refused == {MEHMET: RecipientRefusal(550, "5.1.1 No such user", permanent=True)}
    assert result.error is None
    assert not result.delivered
    (received,) = server.messages
    assert (received.recipients, received.raw) == ((AYSE,), message.raw)


def test_temporary_refusal_of_the_only_recipient(
    tmp_path: Path, start_smtp_server: StartSmtpServer, smtp_ca_file: Path
) -> None:
    server = start_smtp_server(faults=Faults(rcpt_replies={AYSE: "451 4.3.0 Try again later"}))

    (result,) = send_all(
        smtp_transport(tmp_path, client_config(server, smtp_ca_file)), make_message(cc=())
    )

    assert result.refused == {AYSE: RecipientRefusal(451, "4.3.0 Try again later", permanent=False)}
    assert failure_of(result)[0] is False
    assert server.messages == ()
    assert "DATA" not in server.verbs()


@pytest.mark.parametrize(
    ("replies", "permanent"),
    [
        ({AYSE: "550 5.1.1 No such user", MEHMET: "553 5.1.3 Bad address"}, True),
        ({AYSE: "550 5.1.1 No such user", MEHMET: "452 4.2.2 Mailbox full"}, False),
    ],
)
def test_every_recipient_refused(
    tmp_path: Path,
    start_smtp_server: StartSmtpServer,
    smtp_ca_file: Path,
    replies: dict[str, str],
    permanent: bool,
) -> None:
    server = start_smtp_server(faults=Faults(rcpt_replies=replies))

    (result,) = send_all(
        smtp_transport(tmp_path, client_config(server, smtp_ca_file)), make_message()
    )

    assert failure_of(result)[0] is permanent
    assert {address: r.code for address, r in result.refused.items()} == {
        address: int(reply[:3]) for address, reply in replies.items()
    }
    assert server.messages == ()


@pytest.mark.parametrize(
    ("reply", "permanent"),
    [("451 4.3.0 Queue full, try later", False), ("554 5.6.0 Message rejected", True)],
)
def test_message_refused_after_data(
    tmp_path: Path,
    start_smtp_server: StartSmtpServer,
    smtp_ca_file: Path,
    reply: str,
    permanent: bool,
) -> None:
    server = start_smtp_server(faults=Faults(data_reply=reply))
    transport = smtp_transport(tmp_path, client_config(server, smtp_ca_file))

    first, second = send_all(transport, make_message(), make_message())

    assert failure_of(first) == (permanent, f"127.0.0.1:{server.port} refused the message: {reply}")
    assert first.refused == {}
    assert failure_of(second)[0] is permanent
    assert server.messages == ()
    # A refused message leaves the connection usable: both went over one session.
    assert server.session_count == 1


@pytest.mark.parametrize(
    ("reply", "permanent"),
    [
        # The sender is the same for every message: a refusal is a configuration problem.
        ("550 5.7.1 Sender address not allowed", False),
        ("552 5.3.4 Message size exceeds fixed limit", True),
    ],
)
def test_sender_refused(
    tmp_path: Path,
    start_smtp_server: StartSmtpServer,
    smtp_ca_file: Path,
    reply: str,
    permanent: bool,
) -> None:
    server = start_smtp_server(faults=Faults(mail_reply=reply))

    (result,) = send_all(
        smtp_transport(tmp_path, client_config(server, smtp_ca_file)), make_message()
    )

    assert failure_of(result) == (
        permanent,
        f"127.0.0.1:{server.port} refused the sender {SENDER}: {reply}",
    )
    assert "RCPT" not in server.verbs()


def test_421_at_connect_fails_the_run_once(
    tmp_path: Path, start_smtp_server: StartSmtpServer, smtp_ca_file: Path
) -> None:
    server = start_smtp_server(faults=Faults(greeting_reply="421 4.3.2 Too busy, try later"))
    transport = smtp_transport(tmp_path, client_config(server, smtp_ca_file))

    first, second = send_all(transport, make_message(), make_message())

    permanent, text = failure_of(first)
    assert permanent is False
    assert "421 4.3.2 Too busy" in text
    # The second message fails with the same error without another connection attempt.
    assert second.error is first.error
    assert server.session_count == 1
    assert server.commands == ()


def test_wrong_password_is_temporary_and_sends_nothing(
    tmp_path: Path,
    smtp_server: SmtpTestServer,
    smtp_ca_file: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = client_config(smtp_server, smtp_ca_file)
    wrong_password = "not-the-password-7f3a"

    (result,) = send_all(
        smtp_transport(tmp_path, settings, password=wrong_password), make_message()
    )

    permanent, text = failure_of(result)
    assert permanent is False
    assert "refused the username or password: 535" in text
    assert "MAIL" not in smtp_server.verbs()
    assert any(r.levelno == logging.ERROR and "535" in r.message for r in caplog.records)
    assert wrong_password not in caplog.text


def test_username_without_auth_offered(
    tmp_path: Path, start_smtp_server: StartSmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    server = start_smtp_server("none")  # AUTH needs TLS here, so it is not offered
    settings = client_config(server, None)

    (result,) = send_all(smtp_transport(tmp_path, settings), make_message())

    permanent, text = failure_of(result)
    assert permanent is False
    assert "AUTH extension is not supported" in text
    assert server.verbs() == ["EHLO"]
    assert "unencrypted" in caplog.text


# --- TLS that must not be skipped ---------------------------------------------------------


def test_starttls_required_but_not_offered(
    tmp_path: Path, start_smtp_server: StartSmtpServer, smtp_ca_file: Path
) -> None:
    # What a client sees when an attacker strips STARTTLS: AUTH offered in clear.
    server = start_smtp_server("none", faults=Faults(auth_in_clear=True))
    settings = client_config(server, smtp_ca_file, security="starttls")

    (result,) = send_all(smtp_transport(tmp_path, settings), make_message())

    permanent, text = failure_of(result)
    assert permanent is False
    assert "does not offer STARTTLS" in text
    assert server.verbs() == ["EHLO"]
    assert server.messages == ()


@pytest.mark.parametrize(
    ("server_tls", "verbs_seen"), [("starttls", ["EHLO", "STARTTLS"]), ("implicit", [])]
)
def test_certificate_from_an_unknown_ca(
    tmp_path: Path,
    start_smtp_server: StartSmtpServer,
    smtp_ca_file: Path,
    untrusted_ca: trustme.CA,
    server_tls: str,
    verbs_seen: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = start_smtp_server(server_tls, certificate_authority=untrusted_ca)  # type: ignore[arg-type]

    (result,) = send_all(
        smtp_transport(tmp_path, client_config(server, smtp_ca_file)), make_message()
    )

    permanent, text = failure_of(result)
    assert permanent is False
    assert "certificate was not accepted" in text
    assert "smtp.ca_file" in text
    assert server.verbs() == verbs_seen
    assert server.messages == ()
    assert any(r.levelno == logging.ERROR and "certificate" in r.message for r in caplog.records)


# --- connections that fail -----------------------------------------------------------------


def test_dropped_after_data_is_temporary_and_a_retry_duplicates_recognisably(
    tmp_path: Path, start_smtp_server: StartSmtpServer, smtp_ca_file: Path
) -> None:
    dropping = start_smtp_server(faults=Faults(drop_after_data=True))
    message = make_message()

    (result,) = send_all(smtp_transport(tmp_path, client_config(dropping, smtp_ca_file)), message)

    permanent, text = failure_of(result)
    assert permanent is False
    assert "may have arrived" in text
    (kept,) = dropping.messages
    assert (kept.raw, kept.acknowledged) == (message.raw, False)
    # The caller retries the same stored bytes: same Message-ID, so the copy is recognisable.
    healthy = start_smtp_server()
    (retry,) = send_all(smtp_transport(tmp_path, client_config(healthy, smtp_ca_file)), message)
    assert retry.delivered
    assert healthy.messages[0].parse()["Message-ID"] == kept.parse()["Message-ID"]


def test_stalled_reply_after_data_times_out(
    tmp_path: Path, start_smtp_server: StartSmtpServer, smtp_ca_file: Path
) -> None:
    server = start_smtp_server(faults=Faults(stall_after_data=True))
    settings = client_config(server, smtp_ca_file, timeout_seconds=1.0)

    started = time.monotonic()
    first, second = send_all(smtp_transport(tmp_path, settings), make_message(), make_message())
    elapsed = time.monotonic() - started

    assert failure_of(first)[0] is False
    assert "no answer in time" in str(first.error)
    # The timed-out connection is abandoned; the next message gets a connection of its own.
    assert failure_of(second)[0] is False
    assert server.session_count == 2
    assert 2.0 <= elapsed < 4.0
    assert [m.acknowledged for m in server.messages] == [False, False]


def test_timeout_bounds_the_whole_send_not_each_reply(
    tmp_path: Path, start_smtp_server: StartSmtpServer, smtp_ca_file: Path
) -> None:
    # Each reply comes within the timeout, but MAIL, RCPT, RCPT and DATA together do not.
    server = start_smtp_server(faults=Faults(reply_delay_seconds=0.4))
    settings = client_config(server, smtp_ca_file, timeout_seconds=1.0)

    started = time.monotonic()
    (result,) = send_all(smtp_transport(tmp_path, settings), make_message())
    elapsed = time.monotonic() - started

    assert failure_of(result)[0] is False
    assert elapsed < 2.0
    assert server.messages == ()


def test_stalled_greeting_times_out(
    tmp_path: Path, start_smtp_server: StartSmtpServer, smtp_ca_file: Path
) -> None:
    server = start_smtp_server(faults=Faults(stall_greeting=True))
    settings = client_config(server, smtp_ca_file, timeout_seconds=0.5)

    started = time.monotonic()
    (result,) = send_all(smtp_transport(tmp_path, settings), make_message())
    elapsed = time.monotonic() - started

    permanent, text = failure_of(result)
    assert permanent is False
    assert "no answer within 0.5 s while connecting" in text
    assert elapsed < 1.5


def test_nobody_listening(tmp_path: Path, smtp_ca_file: Path) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago and is not listened on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = SmtpConfig(
        host="127.0.0.1",
        port=port,
        password=SecretRef(),
        ca_file=smtp_ca_file,
        timeout_seconds=2.0,
    )

    (result,) = send_all(smtp_transport(tmp_path, settings, password=None), make_message())

    permanent, text = failure_of(result)
    assert permanent is False
    assert "cannot connect" in text


# --- choosing the transport -----------------------------------------------------------------


def test_open_transport_follows_mail_transport(tmp_path: Path, smtp_ca_file: Path) -> None:
    settings = SmtpConfig(
        host="localhost",
        port=587,
        password=SecretRef(),
        ca_file=smtp_ca_file,
        timeout_seconds=5.0,
    )
    assert isinstance(
        open_transport(mail_config(tmp_path, "smtp"), settings, password=None), SmtpTransport
    )
    outbox = open_transport(mail_config(tmp_path, "outbox"), settings, password=None)
    assert isinstance(outbox, OutboxTransport)
    assert outbox.folder == tmp_path / "outbox"


def test_unknown_transport_is_a_config_error(tmp_path: Path) -> None:
    settings = SmtpConfig(
        host="localhost",
        port=587,
        password=SecretRef(),
        ca_file=None,
        timeout_seconds=5.0,
    )

    # The schema refuses "pigeon" at load; model_copy skips validation, as a config
    # built in code could, to reach the transport's own guard.
    pigeon = mail_config(tmp_path).model_copy(update={"transport": "pigeon"})
    with pytest.raises(ConfigError, match=r"mail\.transport"):
        open_transport(pigeon, settings, password=None)


def test_unreadable_ca_file_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing-ca.pem"
    settings = SmtpConfig(
        host="localhost",
        port=587,
        password=SecretRef(),
        ca_file=missing,
        timeout_seconds=5.0,
    )

    with pytest.raises(ConfigError, match=r"smtp\.ca_file"):
        open_transport(mail_config(tmp_path), settings, password=None)


# --- the outbox folder ------------------------------------------------------------------------


def test_outbox_writes_the_exact_bytes_under_the_message_id(tmp_path: Path) -> None:
    message = make_message()
    folder = tmp_path / "outbox"

    (result,) = send_all(OutboxTransport(folder), message)

    assert result == DeliveryResult(accepted=(AYSE, MEHMET))
    bare_id = message.message_id.strip("<>")
    (path,) = folder.iterdir()
    assert path.name == f"{bare_id}.eml"
    assert path.read_bytes() == message.raw
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert parsed["Message-ID"] == message.message_id
    assert parsed["To"] == AYSE
    assert path.stat().st_mode & 0o077 == 0


def test_outbox_same_message_id_replaces_the_file(tmp_path: Path) -> None:
    first = make_message(subject="First rendering")
    second = Outgoing(
        raw=first.raw.replace(b"First rendering", b"Second rendering"),
        envelope=first.envelope,
        message_id=first.message_id,
    )
    folder = tmp_path / "outbox"

    send_all(OutboxTransport(folder), first, second, make_message())

    files = sorted(folder.iterdir())
    assert len(files) == 2  # no temporary files left behind either
    assert (folder / outbox_file_name(first.message_id)).read_bytes() == second.raw


def test_outbox_file_names_stay_inside_the_folder_and_apart() -> None:
    names = {
        outbox_file_name(i) for i in ("<a/b@x>", "<a_b@x>", "<../../etc@x>", "<..>", "<a b@x>")
    }

    assert len(names) == 5
    for name in names:
        assert "/" not in name
        assert not name.startswith(".")
        assert name.endswith(".eml")
    assert outbox_file_name("<a_b@x>") == "a_b@x.eml"
    assert len(outbox_file_name("<" + "x" * 400 + "@x>")) < 200
    with pytest.raises(ValueError, match="Message-ID"):
        outbox_file_name("<>")


def test_outbox_folder_that_cannot_be_created_is_temporary(tmp_path: Path) -> None:
    blocker = tmp_path / "outbox"
    blocker.write_text("a file where the folder should be\n")

    (result,) = send_all(OutboxTransport(blocker / "sub"), make_message())

    permanent, text = failure_of(result)
    assert permanent is False
    assert "cannot write to the outbox folder" in text

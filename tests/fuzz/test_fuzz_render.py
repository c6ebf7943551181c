"""Fuzzing the rendering: any names give a well-formed, escaped message, never a traceback.

Partner, country, programme, notes and warnings, and the recipient's display name, are
drawn with control characters, line breaks, HTML and script tags, right-to-left text
and 500-character names. Each digest goes through jobs.compose_reminder with the
context the CLI builds (templates, CSS inlining, calendar attachments), and the raw
bytes it would send are read back: the headers are exactly the ones we write, the one
recipient is the one we meant, no line is longer than SMTP allows, and the HTML holds
no tag that the templates themselves do not write.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reminder.cli.mail import build_context
from reminder.config.loading import build_config
from reminder.domain.records import AgreementView, CountryMatch, Lifecycle, Precision, UntilSource
from reminder.domain.reminder_digest import DueItem, Recipient, ReminderDigest
from reminder.runs.context import Context
from reminder.runs.reminder_run import compose_reminder
from reminder.store.database import Database, open_database

# About 12 s on a quiet 2-core machine.
BOUNDED = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
AS_OF = date(2024, 3, 4)
NOW = datetime(2024, 3, 4, 8, 0, tzinfo=UTC)
RECIPIENT = "coordinator@example.edu"
# Every header compose_reminder writes, and no other (the parts' own headers aside).
HEADERS = {
    "from",
    "to",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "auto-submitted",
    "x-auto-response-suppress",
    "mime-version",
    "content-type",
}
LONGEST_LINE = 998  # RFC 5322, without the CRLF
# C0 and C1 controls and the Unicode line separators: none may reach a header.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")

tricky = st.sampled_from(
    (
        "<script>alert('x')</script>",
        '"><img src=x onerror=alert(1)>',
        "Ünïversité\r\nBcc: victim@example.org",
        "جامعة القاهرة \u202eevil\u202c",
        "אוניברסיטת תל אביב",
        "\x00\x07\x1b[31m\x85\u2028",
        "&lt;b&gt; &amp; {{ 7*7 }} {% raw %}",
        "=?utf-8?q?=41?= \\",
        "x" * 500,
        "İstanbul Üniversitesi " * 25,
    )
)
names = st.one_of(tricky, st.text(st.characters(codec="utf-8"), max_size=80))


@st.composite
def agreements(draw: st.DrawFn, agreement_id: int) -> AgreementView:
    """Return an agreement whose every free-text field is drawn from `names`."""
    until = AS_OF + timedelta(days=draw(st.integers(-30, 180)))
    return AgreementView(
        id=agreement_id,
        partner=draw(names.filter(str.strip)),
        country=draw(names),
        country_code=draw(st.sampled_from((None, "AZ", "IL"))),
        country_match=draw(st.sampled_from(tuple(CountryMatch))),
        programme=draw(names),
        notes=draw(names),
        concluded=until - timedelta(days=5 * 365),
        concluded_precision=draw(st.sampled_from(tuple(Precision))),
        effective_until=until,
        effective_until_source=draw(st.sampled_from(tuple(UntilSource))),
        approximate=draw(st.booleans()),
        lifecycle=Lifecycle.ACTIVE,
        coordinator_email=None,
        data_warnings=tuple(draw(st.lists(names, max_size=2))),
    )


@st.composite
def digests(draw: st.DrawFn) -> ReminderDigest:
    """Return a digest of one to three agreements for a recipient with a drawn name."""
    count = draw(st.integers(1, 3))
    items = []
    for agreement_id in range(1, count + 1):
        agreement = draw(agreements(agreement_id))
        left = (agreement.effective_until - AS_OF).days
        window = 0 if left < 0 else min(w for w in (180, 90, 30, 7) if w >= left)
        items.append(DueItem(agreement, window, left))
    items.sort(key=lambda item: (item.window, item.days_left, item.agreement.id))
    return ReminderDigest(Recipient(RECIPIENT, draw(names)), AS_OF, tuple(items))


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    folder = tmp_path_factory.mktemp("render-fuzz")
    database = open_database(f"sqlite:///{folder / 'reminder.sqlite3'}", migrate=True)
    yield database
    database.close()


@pytest.fixture(scope="module")
def context(database: Database, tmp_path_factory: pytest.TempPathFactory) -> Context:
    """Return the context the CLI composes, for an outbox transport (nothing is sent)."""
    outbox: Path = tmp_path_factory.mktemp("outbox")
    document = {
        "timezone": "Europe/Istanbul",
        "mail": {
            "transport": "outbox",
            "from": "Agreement reminders <reminder@example.edu>",
            "reply_to": "international@example.edu",
            "outbox_dir": str(outbox),
        },
    }
    return build_context(build_config(document, None, {}), database)


class _Tags(HTMLParser):
    """Collects the names of the tags of an HTML document."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _tags(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser


def _html_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


@pytest.fixture(scope="module")
def allowed_tags(context: Context) -> set[str]:
    """Return the tags the templates write for a plain digest: all that may appear."""
    plain = AgreementView(
        id=1,
        partner="Baku State University",
        country="Azerbaijan",
        country_code="AZ",
        country_match=CountryMatch.APPROXIMATE,
        programme="Mevlana",
        notes="a note",
        concluded=date(2019, 3, 11),
        concluded_precision=Precision.MONTH,
        effective_until=AS_OF - timedelta(days=1),
        effective_until_source=UntilSource.TERM,
        approximate=True,
        lifecycle=Lifecycle.ACTIVE,
        coordinator_email=None,
        data_warnings=("a warning",),
    )
    items = (DueItem(plain, 0, -1), DueItem(plain, 7, 7), DueItem(plain, 180, 150))
    digest = ReminderDigest(Recipient(RECIPIENT, "Ayşe"), AS_OF, items)
    raw = compose_reminder(context, digest, NOW).raw
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return _tags(_html_part(parsed)).tags


@BOUNDED
@given(digest=digests())
def test_any_names_give_a_well_formed_escaped_message(
    context: Context, allowed_tags: set[str], digest: ReminderDigest
) -> None:
    planned = compose_reminder(context, digest, NOW)

    lines = planned.raw.split(b"\r\n")
    assert all(len(line) <= LONGEST_LINE for line in lines), max(map(len, lines))
    assert all(b"\r" not in line and b"\n" not in line for line in lines), "a bare CR or LF"
    message = email.message_from_bytes(planned.raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    names = [name.lower() for name, _ in message.items()]
    assert sorted(names) == sorted(HEADERS), names
    (to,) = message["To"].addresses
    assert to.addr_spec == RECIPIENT
    assert not CONTROL.search(to.display_name), repr(to.display_name)
    assert not CONTROL.search(str(message["Subject"])), repr(str(message["Subject"]))
    assert planned.recipients == (RECIPIENT,)
    assert message["Message-ID"] == planned.message_id

    html = _html_part(message)
    assert "<script" not in html.lower()
    found = _tags(html)
    assert found.tags <= allowed_tags, found.tags - allowed_tags
    shown = " ".join("".join(found.text).split())
    for item in digest.items:
        partner = " ".join(item.agreement.partner.split())
        if partner and not CONTROL.search(partner):
            assert partner in shown, partner
    text = message.get_body(preferencelist=("plain",))
    assert text is not None and isinstance(text.get_content(), str)

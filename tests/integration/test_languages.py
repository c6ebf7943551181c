"""Each reader's mail in their own language, end to end: the sample table imported, a
Turkish-speaking and an English-speaking coordinator configured, the office in English,
the reminder and weekly runs delivered to a real SMTP server, and every message read
back as a mail client would.
"""

from __future__ import annotations

import asyncio
import html
import re
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from smtp_server import PASSWORD, SmtpTestServer, client_config

from reminder import store
from reminder.cli.renewals import calendar_attachments
from reminder.config.loading import build_config
from reminder.config.schema import Config
from reminder.importing.rows import read_table
from reminder.mail.configured import open_transport
from reminder.mail.render import Renderer
from reminder.mail.transport import Transport
from reminder.runs.context import Context
from reminder.runs.job import run_job
from reminder.store.database import Database

SAMPLE = Path(__file__).parents[2] / "examples" / "agreements-2022.tsv"
ZONE = ZoneInfo("Europe/Istanbul")
AS_OF = date(2022, 1, 17)
NOW = datetime(2022, 1, 17, 8, 0, tzinfo=ZONE)
AYSE = "ayse.yilmaz@example.edu"  # reads Turkish
MEHMET = "mehmet.demir@example.edu"  # reads English, the office's language
OFFICE = "international@example.edu"
DEAN = "dean@example.edu"

TURKISH_MONTHS = "Ocak|Şubat|Mart|Nisan|Mayıs|Haziran|Temmuz|Ağustos|Eylül|Ekim|Kasım|Aralık"
ENGLISH_MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December"
)
LONG_DATE = {
    "tr": re.compile(rf"\b\d{{1,2}} (?:{TURKISH_MONTHS}) \d{{4}}\b"),
    "en": re.compile(rf"\b\d{{1,2}} (?:{ENGLISH_MONTHS}) \d{{4}}\b"),
}


def make_config(server: SmtpTestServer, ca_file: Path, tmp_path: Path) -> Config:
    smtp = client_config(server, ca_file)
    document: dict[str, Any] = {
        "timezone": "Europe/Istanbul",
        "agreements": {"term_years": 5, "default_programme": "Mevlana"},
        "reminders": {"windows": [180, 90, 30, 7], "default_recipient": OFFICE},
        "escalation": {"at_window": 7, "cc": [DEAN]},
        "coordinators": [
            {
                "name": "Ayşe Yılmaz",
                "email": AYSE,
                "countries": ["AZ", "GE", "KZ", "KG", "MN", "RU", "UA"],
                "language": "tr",
            },
            {
                "name": "Mehmet Demir",
                "email": MEHMET,
                "countries": ["PK", "IN", "AF", "IR", "JP", "KR", "HK", "MY"],
                "programmes": ["Mevlana"],
            },
        ],
        "digest": {"office_summary_to": [OFFICE], "send_when_empty": True},
        "mail": {"transport": "smtp", "from": "Agreement reminders <reminder@example.edu>"},
        "smtp": {
            "host": smtp.host,
            "port": smtp.port,
            "security": smtp.security,
            "username": smtp.username,
            "password": PASSWORD,
            "ca_file": str(smtp.ca_file),
        },
    }
    return build_config(document, None, {"XDG_DATA_HOME": str(tmp_path / "data")})


def make_context(config: Config, db: Database) -> Context:
    def transport() -> Transport:
        return open_transport(config.mail, config.smtp, password=PASSWORD)

    return Context(
        config,
        db,
        Renderer(config.mail.templates_dir, config.languages),
        open_transport=transport,
        attachments=calendar_attachments(config, db),
    )


@pytest.fixture
def received(
    db: Database, tmp_path: Path, smtp_server: SmtpTestServer, smtp_ca_file: Path
) -> dict[tuple[str, str], EmailMessage]:
    """Return what the server received from both runs: (kind, first recipient) -> message."""
    table = read_table(SAMPLE, term_years=5, default_programme="Mevlana")
    with db.session() as session:
        store.apply_import(session, table.rows, now=NOW - timedelta(days=1), actor="test")
    context = make_context(make_config(smtp_server, smtp_ca_file, tmp_path), db)
    for job in ("reminders", "digest"):
        report = asyncio.run(run_job(context, job, as_of=AS_OF, now=NOW))
        assert report.exit_status == 0, report.summary
    messages: dict[tuple[str, str], EmailMessage] = {}
    for arrived in smtp_server.messages:
        message = arrived.parse()
        subject = str(message["Subject"])
        kind = "reminder"
        if "2022-W03" in subject:
            kind = "summary" if subject.startswith("Office summary") else "weekly"
        key = (kind, arrived.recipients[0])
        assert key not in messages, key
        messages[key] = message
    return messages


def _parts(message: EmailMessage) -> tuple[str, str]:
    """Return the plain text, and the HTML part as the words it shows."""
    text = message.get_body(("plain",))
    markup = message.get_body(("html",))
    assert isinstance(text, EmailMessage) and isinstance(markup, EmailMessage)
    shown = re.sub(r"</?span[^>]*>", "", markup.get_content())  # inline: no word break
    shown = re.sub(r"<style.*?</style>|<!--.*?-->|<[^>]+>", " ", shown, flags=re.S)
    return text.get_content().replace("\r\n", "\n"), " ".join(html.unescape(shown).split())


def _calendar(message: EmailMessage) -> str:
    for part in message.iter_attachments():
        if part.get_filename() == "agreements.ics":
            content = part.get_content()
            # Unfolded, as a calendar reads it (RFC 5545 folds lines at 75 octets).
            return str(content).replace("\r\n ", "").replace("\n ", "")
    raise AssertionError("no calendar attached")


def _same_facts(text: str, shown: str, language: str, *, listed: bool = True) -> None:
    """The plain-text and HTML parts give the same dates and the same partners (`listed`:
    some are)."""
    assert LONG_DATE[language].findall(text)
    assert sorted(set(LONG_DATE[language].findall(text))) == sorted(
        set(LONG_DATE[language].findall(shown))
    )
    partners = set(re.findall(r"^(\S.*?) \(#\d+\)$", text, flags=re.M))
    partners |= set(re.findall(r"^  \* (.+?) \(#\d+\)", text, flags=re.M))
    assert bool(partners) is listed
    missing = [partner for partner in partners if partner not in shown]
    assert not missing


def test_each_reminder_is_in_its_readers_language(
    received: dict[tuple[str, str], EmailMessage],
) -> None:
    turkish, english = received[("reminder", AYSE)], received[("reminder", OFFICE)]

    assert re.fullmatch(
        r"\d+ anlaşmanın yenilenmesi gerekiyor: .+ gün içinde sona eriyor", str(turkish["Subject"])
    )
    assert re.fullmatch(r"\d+ agreements to renew: .+", str(english["Subject"]))

    text, shown = _parts(turkish)
    for part in (text, shown):
        assert "Sayın Ayşe Yılmaz," in part
        assert "17 Ocak 2022 itibarıyla" in part
        assert "7 gün kala hatırlatma" in part
        assert "Dear" not in part and "January" not in part
    _same_facts(text, shown, "tr")

    text, shown = _parts(english)
    for part in (text, shown):
        assert "As of 17 January 2022" in part
        assert "Expiry notice" in part
        assert "Sayın" not in part and "Ocak" not in part
    _same_facts(text, shown, "en")


def test_the_escalation_copy_is_the_main_recipients_message(
    received: dict[tuple[str, str], EmailMessage], smtp_server: SmtpTestServer
) -> None:
    # Ayşe's digest has a 7-day reminder: the dean is copied on that same Turkish message.
    (copied,) = [m for m in smtp_server.messages if DEAN in m.recipients and AYSE in m.recipients]
    assert copied.parse()["Subject"] == received[("reminder", AYSE)]["Subject"]


def test_each_calendar_is_in_its_readers_language(
    received: dict[tuple[str, str], EmailMessage],
) -> None:
    turkish = _calendar(received[("reminder", AYSE)])
    english = _calendar(received[("reminder", OFFICE)])
    assert "SUMMARY:Anlaşma sona eriyor: " in turkish
    assert re.search(r"DESCRIPTION:Anlaşma sona eriyor: .+: \d+ gün içinde", turkish)
    assert "Geçerlilik sonu: " in turkish
    assert "Agreement ends" not in turkish
    assert "SUMMARY:Agreement ends: " in english
    assert re.search(r"DESCRIPTION:Agreement ends: .+: in \d+ days", english)
    assert "Anlaşma" not in english


def test_each_weekly_digest_is_in_its_readers_language(
    received: dict[tuple[str, str], EmailMessage],
) -> None:
    turkish, english = received[("weekly", AYSE)], received[("weekly", MEHMET)]
    assert str(turkish["Subject"]).startswith("Anlaşmalar 2022-W03: ")
    assert "sona erecek" in str(turkish["Subject"])
    assert str(english["Subject"]).startswith("Agreements 2022-W03: ")

    text, shown = _parts(turkish)
    for part in (text, shown):
        for heading in ("Portföy (", "Önümüzdeki 12 ayda sona erecekler", "Ülkelere göre ("):
            assert heading in part
        # The timeline's months and the per-country summary, in Turkish.
        assert "Oca 2022" in part and "Şub" in part and "Ağu" in part
        assert "Gürcistan" in part and "Azerbaycan" in part and "Kazakistan" in part
        assert "Anlaşmaların durumu, 2022-W03 haftası" in part
        # The import's data-quality warning, stored in English, read in Turkish.
        assert "imza tarihi xx.01.2018 tam bir tarih değil" in part
        assert "is not a full date" not in part
        # "May" is Turkish's short name of Mayıs too.
        assert not re.search(rf"\b(?:{ENGLISH_MONTHS.replace('|May|', '|')})\b", part)
    _same_facts(text, shown, "tr")

    text, shown = _parts(english)
    for part in (text, shown):
        for heading in ("Portfolio (", "Ending in the next 12 months", "By country ("):
            assert heading in part
        assert "Jan 2022" in part and "Pakistan" in part
        assert not re.search(rf"\b(?:{TURKISH_MONTHS})\b", part)
    # Mehmet's partners are all in force beyond the windows: nothing is listed.
    _same_facts(text, shown, "en", listed=False)


def test_the_office_summary_is_in_the_offices_language(
    received: dict[tuple[str, str], EmailMessage],
) -> None:
    summary = received[("summary", OFFICE)]
    assert str(summary["Subject"]).startswith("Office summary 2022-W03: ")
    text, _ = _parts(summary)
    assert "Georgia" in text and "Gürcistan" not in text

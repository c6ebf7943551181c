"""The weekly digest's 12-month timeline, per-country summary and retired list."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from factories import agreement_view

from reminder.domain.dates import days_left
from reminder.domain.records import AgreementView, CountryMatch, Lifecycle
from reminder.domain.reminder_digest import Recipient
from reminder.domain.weekly_digest import UNRECOGNISED_COUNTRY, WeeklyBuilder, WeeklyDigest
from reminder.domain.windows import Status, status_of
from reminder.mail.render import Renderer

TODAY = date(2022, 1, 17)
WINDOWS = (180, 90, 30, 7)
COORDINATOR = Recipient("coordinator@example.edu", "Coordinator")


def agreement(agreement_id: int, until: date, **changes: Any) -> AgreementView:
    return agreement_view(
        agreement_id,
        **{
            "partner": f"Partner {agreement_id}",
            "programme": "Mevlana",
            "concluded": until.replace(year=until.year - 5),
            "effective_until": until,
            **changes,
        },
    )


def build(*views: AgreementView, office_wide: bool = False) -> WeeklyDigest:
    """Return the digest of `views` as the weekly run builds it on TODAY."""
    builder = WeeklyBuilder(COORDINATOR, TODAY, max(WINDOWS), office_wide=office_wide)
    for view in views:
        builder.add(view, status_of(view, TODAY, WINDOWS), days_left(view.effective_until, TODAY))
    return builder.build()


def test_the_timeline_counts_the_next_twelve_months() -> None:
    digest = build(
        agreement(1, date(2022, 1, 17)),  # today, the last day: counted
        agreement(2, date(2022, 1, 16)),  # lapsed yesterday: not ahead
        agreement(3, date(2022, 3, 1)),
        agreement(4, date(2022, 3, 31)),
        agreement(5, date(2022, 8, 10)),
        agreement(6, date(2022, 12, 31)),
        agreement(7, date(2023, 1, 1)),  # the thirteenth month
        agreement(8, date(2022, 3, 5), lifecycle=Lifecycle.SUPERSEDED),
        agreement(9, date(2022, 3, 5), lifecycle=Lifecycle.RETIRED, retired_reason="closed"),
    )
    months = [(m.month, m.count, m.percent, m.in_window) for m in digest.timeline]
    assert months == [
        (date(2022, 1, 1), 1, 50, True),
        (date(2022, 2, 1), 0, 0, True),
        (date(2022, 3, 1), 2, 100, True),
        (date(2022, 4, 1), 0, 0, True),
        (date(2022, 5, 1), 0, 0, True),
        (date(2022, 6, 1), 0, 0, True),
        (date(2022, 7, 1), 0, 0, True),  # starts before 2022-07-16, the window's end
        (date(2022, 8, 1), 1, 50, False),
        (date(2022, 9, 1), 0, 0, False),
        (date(2022, 10, 1), 0, 0, False),
        (date(2022, 11, 1), 0, 0, False),
        (date(2022, 12, 1), 1, 50, False),
    ]
    assert [month.bar(30) for month in digest.timeline[:3]] == [15, 0, 30]


def test_a_small_month_still_gets_a_visible_bar() -> None:
    views = [agreement(index, date(2022, 2, 1)) for index in range(1, 301)]
    digest = build(*views, agreement(999, date(2022, 5, 1)))
    may = digest.timeline[4]
    assert (may.count, may.percent) == (1, 0)
    assert may.bar(30) == 1


def test_the_country_summary_counts_by_status() -> None:
    digest = build(
        agreement(1, date(2022, 3, 1)),  # expiring
        agreement(2, date(2021, 12, 1)),  # expired
        agreement(3, date(2026, 1, 1)),  # active
        agreement(
            4,
            date(2026, 1, 1),
            country="Gürcistan",
            country_code="GE",
            country_match=CountryMatch.APPROXIMATE,
        ),
        agreement(5, date(2026, 1, 1), country="Georgia", country_code="GE"),
        agreement(
            6,
            date(2022, 2, 1),
            country="Atlantis",
            country_code=None,
            country_match=CountryMatch.UNKNOWN,
        ),
        agreement(7, date(2022, 2, 1), lifecycle=Lifecycle.SUPERSEDED),
    )
    rows = [(r.code, r.name, r.expiring, r.expired, r.active) for r in digest.countries]
    assert rows == [
        ("AZ", "Azerbaijan", 1, 1, 1),
        # The name as written on the exactly matched row.
        ("GE", "Georgia", 0, 0, 2),
        # Not recognised comes last, whatever its counts.
        (None, UNRECOGNISED_COUNTRY, 1, 0, 0),
    ]
    assert digest.countries[0].label == "Azerbaijan (AZ)"
    assert digest.countries[-1].label == UNRECOGNISED_COUNTRY


def test_retired_agreements_are_listed_near_their_end_only() -> None:
    digest = build(
        agreement(1, date(2022, 3, 1), lifecycle=Lifecycle.RETIRED, retired_reason="closed"),
        agreement(2, date(2020, 12, 1), lifecycle=Lifecycle.RETIRED, retired_reason="closed"),
        agreement(3, date(2028, 3, 1), lifecycle=Lifecycle.RETIRED, retired_reason="closed"),
    )
    assert [item.agreement.id for item in digest.retired.items] == [1]
    assert digest.counts[Status.RETIRED] == 3


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def march_and_september() -> WeeklyDigest:
    """Return a digest with two agreements ending in March, one in September."""
    return build(
        agreement(1, date(2022, 3, 1)),
        agreement(2, date(2022, 3, 9)),
        agreement(3, date(2022, 9, 1)),
    )


def test_the_html_draws_bars_with_table_cells(renderer: Renderer) -> None:
    digest = march_and_september()
    html = renderer.weekly(digest).html
    bars = re.findall(r'class="(bar-soon|bar-later|bar-rest)"[^>]*width="(\d+)%"', html)
    # March is the busiest (in the window); September half as busy (beyond it).
    assert ("bar-soon", "100") in bars
    assert ("bar-later", "50") in bars
    assert ("bar-rest", "50") in bars
    # Each filled cell has its colour inlined, and as bgcolor for Outlook.
    assert re.search(r'bgcolor="#d97706"[^>]*style="[^"]*background-color:\s*#d97706', html)
    assert "<img" not in html


def test_the_text_draws_bars_of_hashes(renderer: Renderer) -> None:
    digest = march_and_september()
    text = renderer.weekly(digest).text
    lines = {
        line.split()[0]: line for line in text.splitlines() if re.match(r"[A-Z][a-z]{2,3}\b", line)
    }
    assert re.fullmatch(r"Mar {6}! #{30} +2", lines["Mar"])
    # Month names are CLDR's for British English, which abbreviates September "Sept".
    assert re.fullmatch(r"Sept {7}#{15} +1", lines["Sept"])
    assert re.fullmatch(r"Feb {6}! +0", lines["Feb"])
    assert "Azerbaijan (AZ)" in text


def test_the_office_summary_says_what_it_covers(renderer: Renderer) -> None:
    digest = build(agreement(1, date(2022, 3, 1)), office_wide=True)
    rendered = renderer.weekly(digest)
    assert rendered.subject.startswith("Office summary 2022-W03: 1 expiring")
    assert "every coordinator's portfolio" in " ".join(rendered.text.split())
    assert "Office summary" in rendered.html


def test_a_digest_with_nothing_ahead_says_so(renderer: Renderer) -> None:
    digest = build(agreement(1, TODAY + timedelta(days=1000)))
    for body in (renderer.weekly(digest).text, renderer.weekly(digest).html):
        assert "No active agreement ends in the next 12 months." in body

"""Routing agreements to coordinators and grouping one digest per recipient."""

from __future__ import annotations

from datetime import date

from factories import agreement_view

from reminder.config.schema import Coordinator
from reminder.domain.records import AgreementView, UntilSource
from reminder.domain.reminder_digest import DueItem, Recipient, Router, build_digests

AYSE = Coordinator(name="Ayşe", email="ayse@example.edu", countries=("AZ", "GE"))
MEHMET = Coordinator(name="Mehmet", email="mehmet@example.edu", programmes=("Erasmus+",))


def agreement(
    id: int, code: str | None, programme: str = "Mevlana", email: str | None = None
) -> AgreementView:
    return agreement_view(
        id,
        partner=f"Partner {id}",
        country="x",
        country_code=code,
        programme=programme,
        concluded=date(2018, 1, 1),
        effective_until=date(2023, 1, 1),
        effective_until_source=UntilSource.YEAR,
        coordinator_email=email,
    )


def test_every_matching_coordinator_receives() -> None:
    router = Router((AYSE, MEHMET), default_recipient=None)
    assert router.recipients(agreement(1, "AZ")) == (Recipient("ayse@example.edu", "Ayşe"),)
    both = router.recipients(agreement(2, "GE", "erasmus+"))
    assert [r.email for r in both] == ["ayse@example.edu", "mehmet@example.edu"]
    assert router.recipients(agreement(3, "PK")) == ()
    assert router.recipients(agreement(4, None)) == ()


def test_programmes_match_as_the_import_identifies_them() -> None:
    # Case, accents and punctuation aside, as the import's programme key: "İkili
    # Anlaşma" typed without Turkish letters is the same programme.
    zeynep = Coordinator(name="Zeynep", email="zeynep@example.edu", programmes=("İkili Anlaşma",))
    router = Router((zeynep, MEHMET), default_recipient=None)
    for spelling in ("İkili Anlaşma", "IKILI ANLASMA", "ikili  anlaşma"):
        assert [r.email for r in router.recipients(agreement(1, "GE", spelling))] == [
            "zeynep@example.edu"
        ]
    assert [r.email for r in router.recipients(agreement(2, "GE", "ERASMUS +"))] == [
        "mehmet@example.edu"
    ]
    assert router.recipients(agreement(3, "GE", "Erasmus Mundus")) == ()


def test_own_coordinator_replaces_rules_and_default_catches_the_rest() -> None:
    router = Router((AYSE,), default_recipient="office@example.edu")
    assert router.recipients(agreement(1, "AZ", email="zeynep@example.edu")) == (
        Recipient("zeynep@example.edu"),
    )
    # A known coordinator's own address keeps their name.
    assert router.recipients(agreement(1, "PK", email="AYSE@example.edu")) == (
        Recipient("ayse@example.edu", "Ayşe"),
    )
    assert router.recipients(agreement(2, "PK")) == (Recipient("office@example.edu"),)


def test_one_digest_per_recipient_most_urgent_first() -> None:
    a, b = Recipient("a@example.edu"), Recipient("b@example.edu")
    items = [
        (a, DueItem(agreement(1, "AZ"), 90, 80)),
        (b, DueItem(agreement(2, "AZ"), 30, 25)),
        (a, DueItem(agreement(3, "AZ"), 0, -2)),
        (a, DueItem(agreement(4, "AZ"), 90, 60)),
        (a, DueItem(agreement(5, "AZ")._replace(partner="Aa"), 90, 60)),
    ]
    digests = build_digests(items, date(2022, 1, 17))
    assert [d.recipient for d in digests] == [a, b]
    assert [i.agreement.id for i in digests[0].items] == [3, 5, 4, 1]
    assert digests[0].most_urgent.is_notice
    assert [w for w, _ in digests[0].by_window()] == [0, 90]

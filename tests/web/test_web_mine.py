""" "My agreements" and the coordinator filter list exactly what the reminder run routes
to the person: every [[coordinators]] entry of theirs, and what no entry matches when
they are the default recipient."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from factories import agreement_input
from web.webapp import START, Site, log_in, site_with_config

from reminder.domain.reminder_digest import Router
from reminder.store import apply_import, iter_agreement_views
from reminder.store.database import Database
from reminder.store.user_models import Role

CONFIG = """\
timezone = "UTC"
[reminders]
windows = [180, 90, 30, 7]
default_recipient = "International@example.edu"
# Ayşe is listed twice: Erasmus in Georgia, and everything in Pakistan.
[[coordinators]]
name = "Ayşe Yılmaz"
email = "ayse@example.edu"
countries = ["GE"]
programmes = ["Erasmus+ KA171"]
[[coordinators]]
name = "Mehmet Demir"
email = "mehmet@example.edu"
countries = ["*"]
programmes = ["Farabi"]
[[coordinators]]
name = "Ayşe Yılmaz"
email = "ayse@example.edu"
countries = ["PK"]
# Bilateral agreements everywhere: a name SQLite's lower() does not fold (İ).
[[coordinators]]
name = "Zeynep Kaya"
email = "zeynep@example.edu"
programmes = ["İkili Anlaşma"]
"""

# Partner: (country code, programme, coordinator named by the table).
AGREEMENTS = {
    "Georgia Erasmus": ("GE", "Erasmus+ KA171", None),  # Ayşe's first entry
    "Georgia Mevlana": ("GE", "Mevlana", None),  # no entry: the default recipient
    "Pakistan Mevlana": ("PK", "Mevlana", None),  # Ayşe's second entry
    "Azerbaijan Farabi": ("AZ", "Farabi", None),  # Mehmet, everywhere
    "Nowhere Mevlana": (None, "Mevlana", None),  # no country code: the default recipient
    "Nowhere Farabi": (None, "Farabi", None),  # Mehmet: his entry names every country
    "Named Ayşe": ("TR", "Mevlana", "Ayse@example.edu"),  # the table names her
    "Named other": ("GE", "Erasmus+ KA171", "other@example.edu"),  # someone else only
    "Azerbaijan İkili": ("AZ", "İkili Anlaşma", None),  # Zeynep: spelled as configured
    "Georgia ikili": ("GE", "IKILI ANLASMA", None),  # Zeynep: the import's same programme
}

EXPECTED = {
    "ayse@example.edu": {"Georgia Erasmus", "Pakistan Mevlana", "Named Ayşe"},
    "mehmet@example.edu": {"Azerbaijan Farabi", "Nowhere Farabi"},
    "zeynep@example.edu": {"Azerbaijan İkili", "Georgia ikili"},
    "international@example.edu": {"Georgia Mevlana", "Nowhere Mevlana"},
    "viewer@example.edu": set(),
}


@pytest.fixture
def site(db: Database, tmp_path: Path) -> Site:
    site = site_with_config(db, tmp_path, CONFIG)
    site.add_user("ayse@example.edu", Role.COORDINATOR, "Ayşe Yılmaz")
    site.add_user("mehmet@example.edu", Role.COORDINATOR, "Mehmet Demir")
    site.add_user("zeynep@example.edu", Role.COORDINATOR, "Zeynep Kaya")
    site.add_user("international@example.edu", Role.COORDINATOR, "International Office")
    site.add_user("viewer@example.edu", Role.VIEWER, "Vera Viewer")
    rows = [
        agreement_input(partner, country_code=code, programme=programme, coordinator_email=named)
        for partner, (code, programme, named) in AGREEMENTS.items()
    ]
    with db.session() as session:
        apply_import(session, rows, now=START, actor="tester")
    return site


def _listed(html: str) -> set[str]:
    return set(re.findall(r'<a href="/agreements/\d+" dir="auto">([^<]+)</a>', html))


def test_the_routing_of_the_example_is_what_the_test_expects(site: Site) -> None:
    router = Router(site.config.coordinators, site.config.reminders.default_recipient)
    with site.database.session(read_only=True) as session:
        views = list(iter_agreement_views(session))
    for email, expected in EXPECTED.items():
        routed = {
            v.partner for v in views if email in {r.email.casefold() for r in router.recipients(v)}
        }
        assert routed == expected, email


@pytest.mark.parametrize("email", sorted(EXPECTED))
def test_my_agreements_are_those_the_run_routes_to_me(site: Site, email: str) -> None:
    client = site.client()
    log_in(client, email)
    assert _listed(client.get("/mine").text) == EXPECTED[email]


@pytest.mark.parametrize("email", ["ayse@example.edu", "INTERNATIONAL@example.edu"])
def test_the_coordinator_filter_routes_the_same(site: Site, email: str) -> None:
    client = site.client()
    log_in(client, "viewer@example.edu")
    shown = _listed(client.get("/", params={"coordinator": email}).text)
    assert shown == EXPECTED[email.casefold()]

"""The pages in the reader's language: the user's own, else the browser's
Accept-Language, else the office's [mail] language; dates and data-quality warnings
written in it, as the digests write them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from factories import agreement_input
from web.webapp import START, Site, csrf_of, log_in, make_site

from reminder.domain import data_warnings
from reminder.store import apply_import
from reminder.store.database import Database
from reminder.store.user_models import Role

# Tbilisi State University's agreement ends on 1 May 2026 (see make_site).
TURKISH_DATE = "1 Mayıs 2026"
ENGLISH_DATE = "1 May 2026"


@pytest.fixture
def site(db: Database, tmp_path: Path) -> Site:
    site = make_site(db, tmp_path)
    site.add_user("turkce@example.edu", Role.ADMIN, "Zeynep Kaya", language="tr")
    site.add_user("english@example.edu", Role.VIEWER, "Emma Smith", language="en")
    return site


def test_a_turkish_user_reads_turkish(site: Site) -> None:
    client = site.client()
    log_in(client, "turkce@example.edu")
    # Her own language wins over what her browser asks for.
    response = client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"})
    page = response.text
    assert '<html lang="tr">' in page and response.headers["content-language"] == "tr"
    assert "<h1>Anlaşmalar" in page and "<th>Geçerlilik sonu</th>" in page
    assert TURKISH_DATE in page and ENGLISH_DATE not in page
    assert "Çıkış" in page and "Log out" not in page
    agreement = client.get(f"/agreements/{site.ids['Tbilisi State University']}").text
    assert "Geçmiş" in agreement and "History" not in agreement and TURKISH_DATE in agreement


def test_an_english_user_reads_english(site: Site) -> None:
    client = site.client()
    log_in(client, "english@example.edu")
    page = client.get("/", headers={"Accept-Language": "tr-TR,tr;q=0.9"}).text
    assert '<html lang="en">' in page and "<h1>Agreements" in page
    assert ENGLISH_DATE in page and TURKISH_DATE not in page


def test_without_a_user_language_the_browser_chooses(site: Site) -> None:
    client = site.client()
    login = client.get("/login", headers={"Accept-Language": "tr-TR,tr;q=0.9,en;q=0.8"}).text
    assert '<html lang="tr">' in login and "Giriş yap" in login and "Parola" in login
    log_in(client, "office@example.edu")
    page = client.get("/", headers={"Accept-Language": "tr"}).text
    assert "<h1>Anlaşmalar" in page and TURKISH_DATE in page
    # A browser language without a catalog: the office's (English here).
    other = client.get("/", headers={"Accept-Language": "de-DE,de;q=0.9"}).text
    assert '<html lang="en">' in other and ENGLISH_DATE in other


@pytest.mark.parametrize(("header", "language"), [("EN", "en"), ("TR-TR", "tr"), ("Tr", "tr")])
def test_a_language_tag_in_capitals_is_the_same_language(
    site: Site, header: str, language: str
) -> None:
    # Tags are case-insensitive; answered in the browser's spelling, the catalog lookup
    # failed and every page was a 500, the login page too.
    login = site.client().get("/login", headers={"Accept-Language": header})
    assert login.status_code == 200 and f'<html lang="{language}">' in login.text


def test_without_either_the_office_language(db: Database, tmp_path: Path) -> None:
    site = make_site(db, tmp_path, web='\n[mail]\nlanguage = "tr"\n')
    client = site.client()
    log_in(client, "office@example.edu")
    page = client.get("/").text
    assert '<html lang="tr">' in page and "<h1>Anlaşmalar" in page and TURKISH_DATE in page
    # The browser's language still comes before the office's.
    english = client.get("/", headers={"Accept-Language": "en"}).text
    assert "<h1>Agreements" in english and ENGLISH_DATE in english


def test_data_warnings_are_shown_in_the_readers_language(site: Site) -> None:
    stored = data_warnings.warning(data_warnings.COUNTRY_UNKNOWN, country="Tunis")
    row = agreement_input(
        "Université de Tunis",
        country="Tunis",
        country_code=None,
        effective_until=date(2026, 9, 1),
        warnings=(stored,),
    )
    with site.database.session() as session:
        apply_import(session, [row], now=START, actor="tester")
    client = site.client()
    log_in(client, "turkce@example.edu")
    turkish = client.get("/?q=tunis").text
    assert "Tunis tanınan bir ülke değil; ülke kodu olmadan kaydedildi" in turkish
    assert stored not in turkish
    english = site.client()
    log_in(english, "english@example.edu")
    assert stored in english.get("/?q=tunis").text


def test_a_form_problem_is_shown_in_the_readers_language(site: Site) -> None:
    client = site.client()
    log_in(client, "turkce@example.edu")
    number = site.ids["Tbilisi State University"]
    token = csrf_of(client.get(f"/agreements/{number}").text)
    response = client.post(
        f"/agreements/{number}/renew", data={"concluded": "someday", "csrf_token": token}
    )
    assert response.status_code == 400
    assert "yenileme anlaşmasının imza tarihini girin" in response.text
    assert "give the day the renewal was signed" not in response.text


def test_exports_stay_machine_readable(site: Site) -> None:
    client = site.client()
    log_in(client, "turkce@example.edu")
    exported = client.get("/export.csv").text
    assert "2026-05-01" in exported and TURKISH_DATE not in exported

"""An action's bad input is said beside its form field in the page's own words, in the
reader's language, naming the field, never a command-line flag; nothing is written."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from web.webapp import Site, csrf_of, history, log_in, make_site

from reminder import store
from reminder.domain.renewal_rules import Refusal
from reminder.errors import InputError
from reminder.store.database import Database
from reminder.store.user_models import Role
from reminder.web.action_problems import PAGE_MESSAGES

PARTNER = "Tbilisi State University"  # concluded 10 January 2017, until 1 May 2026


@pytest.fixture
def site(db: Database, tmp_path: Path) -> Site:
    site = make_site(db, tmp_path)
    site.add_user("turkce@example.edu", Role.ADMIN, "Zeynep Kaya", language="tr")
    # A retired agreement, for the actions the rules refuse on one.
    with db.session() as session:
        store.retire_agreement(
            session, site.ids["Lahore University"], reason="closed", now=site.clock(), actor="t"
        )
    return site


@dataclass(frozen=True)
class Case:
    partner: str
    action: str
    form: dict[str, str]
    field: str | None  # the field the message is beside; None: the form is not shown
    english: str
    turkish: str


CASES = [
    # Found by the page before the store is called.
    Case(PARTNER, "renew", {"concluded": "2026-02-20", "years": "0"}, "years",
         "give a number of years from 1 to 100", "1 ile 100 arasında bir yıl sayısı girin"),
    Case(PARTNER, "renew", {"concluded": "2026-02-20", "until": "2031-01-01", "years": "5"},
         "years", "give either an end date or a number of years, not both",
         "ya bir bitiş tarihi ya da bir yıl sayısı girin, ikisini birden değil"),
    Case(PARTNER, "retire", {"reason": "  "}, "reason",
         "say why the agreement is not renewed", "anlaşmanın neden yenilenmediğini yazın"),
    Case(PARTNER, "snooze", {"until": "2026-03-02"}, "until",
         "give a day after today (2 March 2026)", "bugünden (2 Mart 2026) sonraki bir gün girin"),
    # Refused by the store's rules, which know the agreement's family.
    Case(PARTNER, "renew", {"concluded": "2016-05-01"}, "concluded",
         "give a day after 10 January 2017, when this agreement was signed",
         "bu anlaşmanın imzalandığı 10 Ocak 2017 tarihinden sonraki bir gün girin"),
    Case(PARTNER, "renew", {"concluded": "2026-02-20", "until": "2026-04-01"}, "until",
         "the renewal would end on 1 April 2026, before this agreement ends (1 May 2026): "
         "give a later date",
         "yenileme 1 Nisan 2026 tarihinde, bu anlaşmanın bitişinden (1 Mayıs 2026) önce sona "
         "ererdi: daha sonraki bir tarih girin"),
    Case(PARTNER, "amend", {"until": "2016-12-31"}, "until",
         "give a day after 10 January 2017, when this agreement was signed",
         "bu anlaşmanın imzalandığı 10 Ocak 2017 tarihinden sonraki bir gün girin"),
    Case(PARTNER, "reinstate", {}, None,
         "this agreement is not retired: nothing to reinstate",
         "bu anlaşma yenilenmeyecek olarak işaretlenmedi: yeniden etkinleştirilecek bir şey yok"),
    Case("Lahore University", "retire", {"reason": "again"}, None,
         "this agreement is retired already", "bu anlaşma zaten yenilenmeyecek olarak işaretlendi"),
    Case("Lahore University", "snooze", {"until": "2026-04-01"}, None,
         "this agreement is retired: reinstate it first",
         "bu anlaşma yenilenmeyecek olarak işaretlendi: önce yeniden etkinleştirin"),
]  # fmt: skip


def _post(site: Site, email: str, case: Case, headers: dict[str, str]) -> tuple[int, str]:
    client = site.client()
    log_in(client, email)
    number = site.ids[case.partner]
    token = csrf_of(client.get(f"/agreements/{number}").text)
    response = client.post(
        f"/agreements/{number}/{case.action}",
        data={**case.form, "csrf_token": token},
        headers=headers,
        follow_redirects=False,
    )
    return response.status_code, response.text


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.action}-{c.english[:30]}")
def test_a_refused_action_is_said_in_the_pages_words(site: Site, case: Case) -> None:
    number = site.ids[case.partner]
    with site.database.session(read_only=True) as session:
        before = store.get_agreement_view(session, number)
        count = len(list(store.iter_agreements(session)))
    events = history(site.database, number)

    status, english = _post(site, "office@example.edu", case, {"Accept-Language": "en"})
    assert status == 400
    problem = f'<p class="{"field-problem" if case.field else "problem"}" role="alert">'
    assert f"{problem}{case.english}</p>" in english
    if case.field is not None:
        # Beside its own field: the input of that field comes right before it.
        input_id = f'id="{case.action}-{case.field}"'
        assert english.index(input_id) < english.index(problem) < english.index("</form>",
            english.index(input_id))  # fmt: skip
    # No flag of the command line (the CSRF token, random base64, may hold "--").
    assert re.search(r"(?<![\w-])--[a-z]", english) is None
    assert "`reminder" not in english  # no command to type

    # In Turkish: the browser's language, and the user's own.
    status, by_browser = _post(site, "office@example.edu", case, {"Accept-Language": "tr"})
    assert status == 400 and f"{problem}{case.turkish}</p>" in by_browser
    assert case.english not in by_browser
    status, by_user = _post(site, "turkce@example.edu", case, {"Accept-Language": "en"})
    assert status == 400 and f"{problem}{case.turkish}</p>" in by_user

    with site.database.session(read_only=True) as session:
        assert store.get_agreement_view(session, number) == before
        assert len(list(store.iter_agreements(session))) == count
    assert history(site.database, number) == events


def test_clearing_a_snooze_that_is_not_there_changes_nothing(site: Site) -> None:
    # Clearing cannot be refused: it is fine whatever the agreement's state.
    number = site.ids[PARTNER]
    client = site.client()
    log_in(client, "office@example.edu")
    token = csrf_of(client.get(f"/agreements/{number}").text)
    response = client.post(
        f"/agreements/{number}/snooze",
        data={"clear": "1", "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert history(site.database, number) == [("tester", "imported")]


def test_every_refusal_has_a_page_message() -> None:
    assert set(PAGE_MESSAGES) == set(Refusal)


def test_the_cli_keeps_its_own_wording(site: Site) -> None:
    # The CLI's line still names its flags: only pages word refusals their way.
    with pytest.raises(InputError, match="--reason must say why"), site.database.session() as s:
        store.retire_agreement(s, site.ids[PARTNER], reason=" ", now=site.clock(), actor="t")

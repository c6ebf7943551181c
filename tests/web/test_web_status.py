"""The status page in the reader's language, as of the app's clock: dates and times
written by Babel, outcomes, roles and jobs in words, no ISO time."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from web.webapp import START, Site, log_in, make_site

from reminder import store
from reminder.store.database import Database
from reminder.store.job_runs import InstanceView
from reminder.store.user_models import Role


@pytest.fixture
def site(db: Database, tmp_path: Path) -> Site:
    site = make_site(db, tmp_path)
    site.add_user("turkce@example.edu", Role.VIEWER, "Zeynep Kaya", language="tr")
    # An active instance beating at the app's time (START, 2 March 2026 09:00 UTC), and
    # today's reminder run done at 08:00: long ago by the wall clock.
    instance = InstanceView("one", "host-a", 4242, "active", START - timedelta(days=1), START)
    with db.session() as session:
        store.record_heartbeat(session, instance)
        run = store.start_job_run(
            session, "reminders", START.date(), now=START - timedelta(hours=1)
        )
        store.finish_job_run(
            session, run, outcome="incomplete", summary="", now=START - timedelta(minutes=59)
        )
    return site


def test_the_status_page_is_written_in_turkish_as_of_the_apps_clock(site: Site) -> None:
    client = site.client()
    log_in(client, "turkce@example.edu")
    page = client.get("/status").text
    # The app's clock: the instance is alive and the run on time (the wall clock is later).
    assert "etkin örnek (zamanlamayı yürütür)</strong> host-a pid 4242" in page
    assert "Sağlıklı: hatırlatma çalıştırmaları zamanında" in page
    assert "başlangıç: 1 Mart 2026 09:00, son sinyal: 2 Mart 2026 09:00" in page
    assert "2 Mart 2026 08:00: tamamlandı, bazı postalar hâlâ bekliyor" in page
    assert "3 Mart 2026 08:00" in page  # the next reminder run, from the app's now
    assert "Haftalık özet" in page and "dakikada bir" in page and "hiç çalışmadı" in page
    for english in ("2026-03-0", "T09:00", "incomplete", "active", "OK:", "every ", "never"):
        assert english not in page, english


def test_the_status_page_in_english(site: Site) -> None:
    client = site.client()
    log_in(client, "viewer@example.edu")
    page = client.get("/status", headers={"Accept-Language": "en"}).text
    assert "active instance (runs the schedule)</strong>" in page
    assert "up since 1 March 2026 09:00, heartbeat 2 March 2026 09:00" in page
    assert "2 March 2026 08:00: completed, some mail still pending" in page
    assert "Weekly digest" in page and "<code>0 8 * * *</code> (UTC)" in page

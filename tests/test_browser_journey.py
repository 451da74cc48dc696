"""The real-data journey of issue 10 (point 8) in the browser, as a commissioner would make it:
on the sample store, import the shared Code-Point postcodes and the Lincolnshire CQC export from
the Data page; run coverage and equalisation from their pages and read what they left out; run
the sample fee-impact report and find the records it left out named; then revert the CQC import
with the Data page's button, and the store's data dump equals the dump before that import.

The CLI and API halves of the same journey are in tests/test_journey.py.
"""

from __future__ import annotations

import pytest

from tests.conftest import SHARED, served, web_store
from tests.test_browser import CHROMIUM, browser, log_in, shot  # noqa: F401 - fixtures
from tests.test_journey import data_dump

POSTCODES = SHARED / "postcodes" / "codepoint_open_2018_lincs_devon.csv"
CQC = SHARED / "cqc" / "cqc_ratings_lincolnshire_2026.csv"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed "
                                                     "(./test.sh installs it)"),
    pytest.mark.skipif(not (POSTCODES.exists() and CQC.exists()),
                       reason="shared postcode and CQC files not present"),
]


@pytest.fixture(scope="module")
def journey_server(sample_db_file, tmp_path_factory):
    """A private sample store served by waitress: (base URL, store path)."""
    from web import create_app

    path = web_store(sample_db_file, tmp_path_factory.mktemp("journey") / "journey.db")
    app = create_app({"DATABASE": str(path), "SECRET_KEY": "journey-test",
                      "SESSION_COOKIE_SECURE": False, "REMEMBER_COOKIE_SECURE": False,
                      "SCHEDULER_ENABLED": False})
    with served(app, threads=4) as url:
        yield url, path


@pytest.fixture
def jpage(browser, journey_server):  # noqa: F811 - browser is the imported fixture
    url, _path = journey_server
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, base_url=url)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("response", lambda r: errors.append(f"HTTP {r.status} {r.url}")
          if r.status >= 500 else None)
    pg.on("dialog", lambda d: d.accept())  # the Revert button's confirmation
    pg.js_errors = errors  # type: ignore[attr-defined]
    yield pg
    context.close()


def import_on_the_data_page(pg, kind: str, path) -> int:
    pg.goto("/data")
    pg.select_option("select[name=kind]", kind)
    pg.set_input_files("#import-form input[type=file]", str(path))
    pg.click("#import-form button[type=submit]")
    summary = pg.locator("#import-summary")
    summary.wait_for(timeout=180_000)
    text = summary.inner_text()
    assert f"as {kind}" in text, text
    return int(text.split("Import #", 1)[1].split(":", 1)[0])


def excluded_total(pg) -> int:
    note = pg.locator("#excluded")
    note.wait_for(timeout=120_000)
    return int(note.get_attribute("data-total"))


def test_the_journey_in_the_browser(jpage, journey_server):
    pg = jpage
    _url, store = journey_server
    log_in(pg, "analyst")
    import_on_the_data_page(pg, "postcodes", POSTCODES)
    before = data_dump(store)
    cqc_id = import_on_the_data_page(pg, "cqc", CQC)
    shot(pg, "journey-01-cqc-imported")

    # coverage: the CQC agencies have no capacity; the page says how many were left out
    pg.goto("/coverage")
    pg.click("#run-button")
    pg.locator("#coverage-kpis").wait_for(timeout=180_000)
    assert excluded_total(pg) >= 95
    assert "capacity" in pg.locator("#excluded").inner_text().lower()
    shot(pg, "journey-02-coverage-excluded")

    # equalisation: the CQC homes without beds or fees are left out, named, and the run is done
    pg.goto("/equalisation")
    pg.locator("input[name=take_up]").fill("0.5")
    pg.click("#run-button")
    pg.locator("#equalisation-results").wait_for(timeout=180_000)
    assert excluded_total(pg) > 0

    # the sample fee-impact report: run it; its page names every record left out
    pg.goto("/reports")
    pg.locator("main table tbody tr td:first-child a", has_text="Weekly fee impact").click()
    pg.click("#run-now")
    section = pg.locator("#report-excluded")
    section.wait_for(timeout=300_000)
    assert "left out of every scenario" in section.inner_text()
    assert pg.locator("table[data-table=excluded] tbody tr").count() > 0
    shot(pg, "journey-03-report-excluded")

    # undo: the Data page's Revert button on the CQC import restores the store's data
    pg.goto("/data")
    pg.locator(f"tr[data-import-id='{cqc_id}'] button.revert").click()
    pg.locator("#revert-summary").wait_for(timeout=120_000)
    assert f"import #{cqc_id}" in pg.locator("#revert-summary").inner_text()
    shot(pg, "journey-04-reverted")
    assert data_dump(store) == before
    assert not pg.js_errors, pg.js_errors  # type: ignore[attr-defined]

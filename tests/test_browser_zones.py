"""Real-browser tests of the zone page, printing and narrow screens (Playwright on Debian's
Chromium, the fixtures of tests/test_browser.py).

A zone page opened from the care gaps table; the coverage page printed to PDF (`page.pdf`, the
print layout: every row of the paged tables, no controls, page numbers); every page at 420 px
wide without horizontal overflow. Screenshots at 1400 and 420 px are kept in `test-artifacts/`.
"""

from __future__ import annotations

import time

import pytest

from tests.test_browser import (  # noqa: F401 - fixtures
    CHROMIUM,
    browser,
    live_app,
    live_server,
    log_in,
    page,
    shot,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed "
                                                     "(./test.sh installs it)"),
]

# Text of the on-screen controls that a printed page must not carry.
CONTROL_TEXT = ("rows per page", "Search this table", "Run coverage", "Colour by", "Log out",
                "Showing 1 to", "Provider exits", "Advanced", "Details")


def start_run(pg, body: dict) -> dict:
    """Start a run through the API as the pages' JavaScript does (session cookie and CSRF
    header); wait for it and return it as GET /api/v1/runs/<id> does."""
    pg.goto("/")
    token = pg.locator('meta[name="csrf-token"]').get_attribute("content")
    resp = pg.request.post("/api/v1/runs", data=body, headers={"X-CSRFToken": token})
    assert resp.status == 202, resp.text()
    url = resp.json()["url"]
    for _ in range(600):
        run = pg.request.get(url).json()
        if run["status"] in ("done", "failed"):
            assert run["status"] == "done", run.get("error")
            return run
        time.sleep(0.2)
    raise AssertionError("the run did not finish")


@pytest.fixture(scope="module")
def runs(browser, live_server):  # noqa: F811
    """One coverage and one equalisation run on the live store, shared by the tests here."""
    context = browser.new_context(base_url=live_server)
    pg = context.new_page()
    log_in(pg, "analyst")
    cov = start_run(pg, {"kind": "coverage", "levers": {"max_minutes": 30}})
    eq = start_run(pg, {"kind": "equalisation", "scenario": {"take_up": 0.5},
                        "options": {"montecarlo_draws": 2000}})
    context.close()
    return {"coverage": cov, "equalisation": eq}


def test_a_zone_page_opens_from_the_care_gaps_table(page, runs):  # noqa: F811
    log_in(page, "viewer")
    page.goto(f"/coverage?run={runs['coverage']['id']}")
    first = page.locator("#care-gaps tbody tr").first
    first.wait_for()
    zone_id = first.get_attribute("data-zone-id")
    first.locator("a").click()
    page.wait_for_url(f"**/zones/{zone_id}")
    page.locator("#zone-kpis").wait_for()
    assert page.locator("#zone-head").get_attribute("data-zone-id") == zone_id
    api = page.request.get(f"/api/v1/zones/{zone_id}").json()
    unmet = float(page.locator('#zone-kpis [data-measure="unmet_hours"]')
                  .get_attribute("data-value"))
    assert unmet == pytest.approx(api["coverage"]["unmet_hours"])
    text = page.locator("main").inner_text()
    assert "Agencies in reach" in text and "Care homes" in text
    shot(page, "zone-1400")
    assert not page.js_errors, page.js_errors


def pdf_text(path) -> str:
    """The text of a PDF, ligatures ("ﬁ") unfolded."""
    import unicodedata

    from pypdf import PdfReader

    text = "\n".join(p.extract_text() or "" for p in PdfReader(str(path)).pages)
    return unicodedata.normalize("NFKC", text)


def test_coverage_prints_every_row_and_no_control(page, runs, tmp_path):  # noqa: F811
    log_in(page, "viewer")
    run = runs["coverage"]
    page.goto(f"/coverage?run={run['id']}")
    page.locator("#zone-costs").wait_for()
    page.wait_for_load_state("networkidle")
    # on screen the long tables are paged
    assert page.locator(".datatable-wrapper").count() >= 2
    pdf = tmp_path / "coverage.pdf"
    page.pdf(path=str(pdf), format="A4", print_background=True)
    text = pdf_text(pdf)
    flat = " ".join(text.split())
    r = run["result"]
    costed = [z for z in r["zones_map"] if z.get("cost_per_contact_hour") is not None]
    assert len(costed) > 15  # more than a screen page holds
    missing = [z["zone_id"] for z in costed if z["zone_id"] not in flat]
    assert not missing, missing[:10]
    names_of = {z["zone_id"]: z.get("name") or z["zone_id"] for z in r["zones"]}
    for g in r["care_gaps"]:
        assert names_of[g["zone_id"]] in flat, g
    names = [p["name"] for p in r["providers"] if p.get("name")]
    assert all(n in flat for n in names), [n for n in names if n not in flat][:5]
    for control in CONTROL_TEXT:
        assert control not in flat, control
    assert f"Run #{run['id']}" in flat and "Levers:" in flat and "Data as imported" in flat
    assert "Page 1 of" in flat  # page numbers from the @page margin boxes
    page.emulate_media(media="print")
    shot(page, "coverage-print")


def test_equalisation_prints_every_home(page, runs, tmp_path):  # noqa: F811
    log_in(page, "viewer")
    run = runs["equalisation"]
    page.goto(f"/equalisation?run={run['id']}")
    page.locator("#break-even").wait_for()
    page.wait_for_load_state("networkidle")
    page.select_option('#first-filters select[data-filter="class"]', "unviable")
    shown = page.locator("#tipping-first tbody tr:not([hidden])").count()
    unviable = [h for h in run["result"]["viability"]["providers"]
                if h["scenario"]["class"] == "unviable"]
    assert shown == len(unviable)
    assert str(len(unviable)) in page.locator("#first-count").inner_text()
    pdf = tmp_path / "equalisation.pdf"
    page.pdf(path=str(pdf), format="A4")
    flat = " ".join(pdf_text(pdf).split())
    for control in ("rows per page", "Search this table", "Run these levers", "Save scenario"):
        assert control not in flat, control
    homes = run["result"]["viability"]["providers"]
    # a name may wrap inside its cell (its words then sit on different lines of the text)
    words = set(flat.split())
    missing = [h["name"] for h in homes if not set(h["name"].split()) <= words]
    assert not missing, missing[:10]
    # every home's row: its break-even fee (pence, so unlikely to repeat by chance)
    fees = [f"£{h['scenario']['break_even_la_fee']:,.2f}" for h in homes
            if h["scenario"].get("break_even_la_fee") is not None]
    assert all(f in flat for f in fees), [f for f in fees if f not in flat][:5]


def _overflow(pg) -> int:
    return pg.evaluate("document.documentElement.scrollWidth")


def test_every_page_fits_a_420_px_screen(browser, live_server, runs):  # noqa: F811
    context = browser.new_context(viewport={"width": 420, "height": 900}, base_url=live_server)
    pg = context.new_page()
    log_in(pg, "admin")
    pid = pg.request.get("/api/v1/providers?per_page=1&kind=care_home").json()["items"][0][
        "provider_id"]
    zone = runs["coverage"]["result"]["care_gaps"][0]["zone_id"]
    paths = {"overview": "/", "providers": "/providers", "provider": f"/providers/{pid}",
             "map": "/map", "coverage": f"/coverage?run={runs['coverage']['id']}",
             "equalisation": f"/equalisation?run={runs['equalisation']['id']}",
             "zone": f"/zones/{zone}", "glossary": "/glossary", "fcoc": "/fcoc",
             "data": "/data", "reports": "/reports", "tokens": "/account/tokens",
             "users": "/admin/users"}
    wide = {}
    for name, path in paths.items():
        pg.goto(path)
        pg.wait_for_load_state("networkidle")
        width = _overflow(pg)
        if width > 420:
            wide[name] = width
        if name in ("overview", "coverage", "equalisation", "zone", "glossary"):
            shot(pg, f"{name}-420")
    context.close()
    assert not wide, wide


def test_screenshots_at_1400(page, runs):  # noqa: F811
    log_in(page, "viewer")
    for name, path in (("overview", "/"), ("coverage", f"/coverage?run={runs['coverage']['id']}"),
                       ("equalisation", f"/equalisation?run={runs['equalisation']['id']}"),
                       ("glossary", "/glossary")):
        page.goto(path)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("document.documentElement.scrollWidth") <= 1400
        shot(page, f"{name}-1400")
    assert not page.js_errors, page.js_errors

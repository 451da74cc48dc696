"""The map in a real browser (Playwright on Debian's Chromium), on the sample market and on the
Devon case: zone polygons from the boundaries API, the legend beside the map with "no value",
the scale bar and county outline, a zone's popup linking to its zone page, the reach view, and
no horizontal overflow at 420 px. Screenshots go to /tmp/caremarket-map/ (look at them)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from tests.conftest import PASSWORDS, email_for, served, shared, web_store
from tests.test_browser import CHROMIUM, browser  # noqa: F401 - the shared browser fixture

SHOTS = Path(tempfile.gettempdir()) / "caremarket-map"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed "
                                                     "(./test.sh installs it)"),
]


def _app(path: Path):
    from web import create_app

    return create_app({"DATABASE": str(path), "SECRET_KEY": "map-test",
                       "SESSION_COOKIE_SECURE": False, "REMEMBER_COOKIE_SECURE": False,
                       "SCHEDULER_ENABLED": False})


@pytest.fixture(scope="module")
def sample_server(sample_db_file, tmp_path_factory):
    path = web_store(sample_db_file, tmp_path_factory.mktemp("map") / "sample.db")
    with served(_app(path), threads=4) as url:
        yield url


@pytest.fixture(scope="module")
def devon_server(tmp_path_factory):
    """The Devon case, built once for the module through `caremarket.cases.load_devon`."""
    from caremarket import accounts
    from caremarket.cases import load_devon
    from caremarket.store import open_store

    source = shared("devon", "travel_matrix_car.csv").parent
    path = tmp_path_factory.mktemp("devon") / "devon.db"
    store = open_store(path)
    try:
        load_devon(store, source)
        for role in PASSWORDS:
            accounts.create_user(store, email_for(role), PASSWORDS[role], role, actor="test")
    finally:
        store.close()
    with served(_app(path), threads=4) as url:
        yield url


def _page(browser, url: str, width: int = 1400):
    context = browser.new_context(viewport={"width": width, "height": 950}, base_url=url)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" and not
          msg.text.startswith("Failed to load resource") else None)
    pg.on("response", lambda r: errors.append(f"HTTP {r.status} {r.url}")
          if r.status >= 500 or (r.status == 404 and "/static/" in r.url) else None)
    pg.add_init_script("document.addEventListener('securitypolicyviolation', e => "
                       "console.error('Content Security Policy violation: ' + "
                       "e.violatedDirective + ' ' + e.blockedURI));")
    pg.goto("/login")
    pg.fill("input[name=email]", email_for("viewer"))
    pg.fill("input[name=password]", PASSWORDS["viewer"])
    pg.click("button[type=submit]")
    pg.wait_for_url(lambda u: "/login" not in u)
    return context, pg, errors


def _shot(pg, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _open_map(pg, query: str = "") -> None:
    pg.goto("/map" + query)
    pg.wait_for_selector("#map[data-ready='1']", timeout=30_000)


def _check_map(pg, zones: int, name: str) -> None:
    """Every zone drawn as a polygon, the legend beside the map with every class and 'no
    value', the scale bar, no overflow; then a zone's popup links to its zone page."""
    _open_map(pg)
    m = pg.locator("#map")
    assert int(m.get_attribute("data-polygons")) == zones
    legend = pg.locator("#map-legend")
    text = legend.inner_text()
    assert "no value" in text and "county outline" in text and "–" in text  # classes
    assert pg.locator(".leaflet-control-scale-line").first.is_visible()
    box, lbox = m.bounding_box(), legend.bounding_box()
    assert lbox["x"] >= box["x"] + box["width"] - 1 or lbox["y"] >= box["y"] + box["height"] - 1
    assert box["width"] > 0.7 * pg.viewport_size["width"]  # the map uses the page's width
    _shot(pg, f"{name}-1400")
    # the providers are layers switched off and on beside the map
    homes = pg.locator("#map .mk-home").count()
    assert homes > 0
    pg.uncheck("#layer-homes")
    assert pg.locator("#map .mk-home").count() == 0
    pg.check("#layer-sites")
    assert pg.locator("#map .mk-site").count() == int(pg.evaluate(
        "JSON.parse(document.getElementById('map-data').textContent).layers.sites.length"))
    pg.check("#layer-homes")
    pg.uncheck("#layer-sites")
    assert pg.locator("#map .mk-home").count() == homes
    # a click on the map opens the zone's popup, whose link is the zone page
    m.click(position={"x": box["width"] / 2, "y": box["height"] / 2})
    link = pg.locator(".leaflet-popup a.zone-link")
    link.wait_for(timeout=10_000)
    href = link.get_attribute("href")
    assert href.startswith("/zones/")
    zone_id = href.rsplit("/", 1)[1]
    popup = pg.locator(".leaflet-popup-content").inner_text()
    assert zone_id in popup
    _shot(pg, f"{name}-popup")
    link.click()
    pg.wait_for_url(lambda u: u.endswith(href))
    # ... and that page is the zone's own: its id, its demand and the agencies in reach
    main = pg.locator("main").inner_text()
    assert zone_id in main and "Agencies in reach" in main, main[:300]


def _check_narrow(browser, url: str, name: str) -> None:
    context, pg, errors = _page(browser, url, width=420)
    try:
        _open_map(pg)
        wide = pg.evaluate("document.documentElement.scrollWidth")
        assert wide <= 420, wide
        m, legend = pg.locator("#map").bounding_box(), pg.locator("#map-legend").bounding_box()
        assert legend["y"] >= m["y"] + m["height"] - 1  # the legend goes below the map
        _shot(pg, f"{name}-420")
        assert not errors, errors
    finally:
        context.close()


def test_the_sample_map_draws_zone_polygons_and_links_to_zone_pages(browser, sample_server):
    context, pg, errors = _page(browser, sample_server)
    try:
        _check_map(pg, 320, "sample-map")
        assert not errors, errors
    finally:
        context.close()
    _check_narrow(browser, sample_server, "sample-map")


def test_the_reach_view_matches_the_api(browser, sample_server):
    context, pg, errors = _page(browser, sample_server)
    try:
        _open_map(pg)
        pg.fill("#max-minutes", "30")
        pg.click("#reach-form button[type=submit]")
        pg.wait_for_selector("#map[data-ready='1']", timeout=30_000)
        api = pg.request.get("/api/v1/reach?max_minutes=30").json()
        assert api["totals"]["zones"] > 0
        rows = pg.locator("#reach-table tbody tr")
        assert rows.count() == api["totals"]["zones"]
        assert [rows.nth(i).get_attribute("data-zone-id") for i in range(rows.count())] == \
            [z["zone_id"] for z in api["zones"]]
        assert pg.locator("#map").get_attribute("data-measure") == "reach"
        assert "no agency within 30 minutes" in pg.locator("#map-legend").inner_text()
        _shot(pg, "sample-reach-30")
        from market.levers import REACH

        pg.goto("/map?max_minutes=5000")  # out of range: said, not a failure
        said = pg.locator("#reach-error").inner_text()
        assert "5000 is outside its range" in said and f"{REACH[0].maximum:g}" in said, said
        assert "shown for 45 minutes" in said
        assert not [e for e in errors if "HTTP 5" in e], errors
    finally:
        context.close()


def test_the_devon_map_draws_the_real_lsoa_boundaries(browser, devon_server):
    context, pg, errors = _page(browser, devon_server)
    try:
        geo = pg.request.get("/api/v1/zones/boundaries.geojson")
        assert geo.headers["content-type"].startswith("application/geo+json")
        assert len(geo.body()) < 1_000_000  # 729 zones under 1 MB
        _check_map(pg, 729, "devon-map")
        _open_map(pg, "?measure=reach&max_minutes=20")
        assert pg.locator("#reach-table tbody tr").count() == \
            pg.request.get("/api/v1/reach?max_minutes=20").json()["totals"]["zones"]
        _shot(pg, "devon-reach-20")
        assert not errors, errors
    finally:
        context.close()
    _check_narrow(browser, devon_server, "devon-map")

"""Real-browser tests: Playwright driving Debian's Chromium against the app served by waitress.

A commissioner's path through the app: log in, upload a file with an error and read the row-level
report, run coverage and equalisation (background runs with progress), open a fee-impact report
and download it as CSV and XLSX, whose figures must agree with the page. Screenshots are kept in
`test-artifacts/` (look at them). `./test.sh` installs Debian's `chromium`; without it these
tests are skipped.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from tests.conftest import PASSWORDS, ROOT, email_for, served, web_store

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed "
                                                     "(./test.sh installs it)"),
]


@pytest.fixture(scope="module")
def live_app(sample_db_file, tmp_path_factory):
    """The app over a private sample store (served by `live_server`)."""
    from web import create_app

    path = web_store(sample_db_file, tmp_path_factory.mktemp("live") / "live.db")
    return create_app({"DATABASE": str(path), "SECRET_KEY": "browser-test",
                       "SESSION_COOKIE_SECURE": False, "REMEMBER_COOKIE_SECURE": False,
                       "SCHEDULER_ENABLED": False})


@pytest.fixture(scope="module")
def live_server(live_app):
    """The app served by waitress in a thread (runs in background threads, as in
    production); yields its base URL."""
    with served(live_app, threads=8) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000},
                                  accept_downloads=True, base_url=live_server)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    # Console errors from scripts count; Chromium's "Failed to load resource" lines for the
    # app's intended 401/422 answers (a refused login, a rejected file) do not. Instead every
    # server error, and any missing static file, counts.
    pg.on("console", lambda msg: errors.append(msg.text)
          if msg.type == "error" and not msg.text.startswith("Failed to load resource")
          else None)
    pg.on("response", lambda r: errors.append(f"HTTP {r.status} {r.url}")
          if r.status >= 500 or (r.status == 404 and "/static/" in r.url) else None)
    pg.js_errors = errors  # type: ignore[attr-defined]
    yield pg
    context.close()


def shot(pg, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path


def log_in(pg, role: str = "analyst") -> None:
    pg.goto("/login")
    pg.fill("input[name=email]", email_for(role))
    pg.fill("input[name=password]", PASSWORDS[role])
    pg.click("button[type=submit]")
    pg.wait_for_url(lambda url: "/login" not in url)


def test_login_refuses_a_wrong_password_then_shows_the_overview(page):
    page.goto("/providers")
    assert "/login" in page.url  # every page needs a login
    page.fill("input[name=email]", email_for("viewer"))
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    assert page.locator(".flash.error").inner_text().startswith("Unknown e-mail")
    shot(page, "01-login-refused")
    log_in(page, "viewer")
    page.goto("/")
    body = page.locator("main").inner_text()
    assert "sparse" in body and "urban" in body  # the overview by rurality
    shot(page, "02-overview")
    assert not page.js_errors, page.js_errors


def test_an_import_with_an_error_is_rejected_row_by_row(page, tmp_path):
    log_in(page, "analyst")
    bad = tmp_path / "care_homes_bad.csv"
    bad.write_text("provider_id,name,beds,occupancy\nCH1,Fen View,30,0.9\n"
                   "CH2,Marsh House,-5,0.8\nCH3,Old Rectory,20,1.7\n")
    page.goto("/data")
    page.select_option("select[name=kind]", "care-homes")
    page.set_input_files("input[type=file]", str(bad))
    page.click("#import-form button[type=submit]")
    errors = page.locator("#import-errors")
    errors.wait_for()
    text = errors.inner_text()
    assert "beds" in text and "occupancy" in text
    assert "3" in text and "4" in text  # spreadsheet rows of the two bad lines
    shot(page, "03-import-rejected")
    # nothing was written: CH1 (a good row of the rejected file) is not in the store
    resp = page.request.get("/api/v1/providers/CH1")
    assert resp.status == 404
    assert resp.json()["error"]["status"] == 404


def test_a_coverage_run_shows_progress_then_care_gaps(page):
    log_in(page, "analyst")
    page.goto("/coverage")
    page.fill("input[name=max_minutes]", "30")
    page.click("#run-button")
    page.locator("#coverage-kpis").wait_for(timeout=60_000)
    page.locator("#care-gaps tbody tr").first.wait_for(timeout=60_000)
    kpis = page.locator("#coverage-kpis").inner_text()
    assert "%" in kpis
    run_id = int(page.locator("[data-run-id]").first.get_attribute("data-run-id"))
    api = page.request.get(f"/api/v1/runs/{run_id}").json()
    assert api["status"] == "done"
    assert api["result"]["levers"]["max_minutes"] == 30
    pct = f"{100 * api['result']['coverage']:.1f}%"
    assert pct in kpis, (pct, kpis)
    # the sample market has no travel matrix: the band and its one-line explanation show
    band = api["result"]["unmet_hours_band"]
    assert band is not None and api["result"]["reach_estimated_share"] == 1.0
    line = page.locator("#travel-uncertainty").inner_text()
    assert "100% of demand is reached on estimated minutes" in line
    assert f"{band['low']:,.0f} to {band['high']:,.0f} a week" in line
    assert "if estimated minutes err" in kpis
    page.select_option("#coverage-map-measure", "unmet_hours_high")
    assert "if estimated minutes run long" in page.locator("#coverage-map").inner_text()
    shot(page, "04-coverage")
    # the map page colours zones by the band's high end too
    page.goto("/map")
    page.select_option("#measure", "unmet_hours_high")
    assert "if estimated minutes run long" in page.locator("#map-classes").inner_text()
    assert not page.js_errors, page.js_errors


def test_an_equalisation_run_shows_classes_charts_and_interval(page):
    log_in(page, "analyst")
    page.goto("/equalisation")
    page.locator("input[name=take_up]").fill("0.6")
    page.click("#run-button")
    results = page.locator("#equalisation-results")
    results.wait_for(timeout=60_000)
    page.locator("#sweep-chart").wait_for()
    page.locator("#mc-chart").wait_for()
    text = results.inner_text()
    assert "at risk" in text.lower() and "cross-subsidy" in text.lower()
    run_id = int(page.locator("[data-run-id]").first.get_attribute("data-run-id"))
    api = page.request.get(f"/api/v1/runs/{run_id}").json()
    assert api["result"]["scenario"]["take_up"] == pytest.approx(0.6)
    shot(page, "05-equalisation")
    assert not page.js_errors, page.js_errors


def test_a_report_page_csv_and_xlsx_agree(page, tmp_path):
    import openpyxl

    log_in(page, "analyst")
    page.goto("/reports")
    page.locator("a.report-run").first.click()
    headline = page.locator("#report-headline")
    headline.wait_for()
    shot(page, "06-report")
    cells = headline.locator("[data-measure][data-value]")
    on_page: dict[tuple[str, str], float] = {}
    for i in range(cells.count()):
        c = cells.nth(i)
        key = (c.get_attribute("data-scenario") or "", c.get_attribute("data-measure"))
        on_page[key] = float(c.get_attribute("data-value"))
    assert len(on_page) >= 5

    with page.expect_download() as dl:
        page.click("#download-csv")
    csv_path = tmp_path / "report.csv"
    dl.value.save_as(csv_path)
    with page.expect_download() as dl:
        page.click("#download-xlsx")
    xlsx_path = tmp_path / "report.xlsx"
    dl.value.save_as(xlsx_path)

    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    from_csv = {(r.get("scenario", ""), r["measure"]): float(r["value"]) for r in rows
                if r.get("section", "headline") == "headline" and r["value"] not in ("", None)}
    wb = openpyxl.load_workbook(xlsx_path, read_only=True)
    ws = wb["Headline"]
    it = ws.iter_rows(values_only=True)
    header = [str(h) for h in next(it)]
    from_xlsx = {}
    for row in it:
        rec = dict(zip(header, row, strict=False))
        if rec.get("value") is not None:
            from_xlsx[(rec.get("scenario") or "", rec["measure"])] = float(rec["value"])
    for key, value in on_page.items():
        assert from_csv[key] == pytest.approx(value, rel=1e-9, abs=1e-9), key
        assert from_xlsx[key] == pytest.approx(value, rel=1e-9, abs=1e-9), key
    page.emulate_media(media="print")
    shot(page, "07-report-print")


def _page_paths(app, page) -> list[str]:
    """Every page of the app: each GET route outside /api and /static (downloads and the
    logout aside), its path arguments filled from the sample store. A route with an argument
    not known here fails the test, so a new page cannot escape it."""
    api = page.request
    runs_of = {d["name"]: [r["id"] for r in api.get(f"/api/v1/reports/{d['name']}/runs")
                           .json()["items"]] for d in api.get("/api/v1/reports").json()["items"]}
    report, runs = next((name, ids) for name, ids in runs_of.items() if ids)  # a report run
    values = {
        "provider_id": api.get("/api/v1/providers?per_page=1").json()["items"][0]["provider_id"],
        "zone_id": api.get("/api/v1/zones?per_page=1").json()["items"][0]["zone_id"],
        "name": report, "run_id": runs[0],
    }
    queries = {"/reports/compare": f"?a={runs[-1]}&b={runs[0]}"}
    paths = []
    for rule in app.url_map.iter_rules():
        if ("GET" not in (rule.methods or ()) or rule.rule.startswith(("/api", "/static"))
                or rule.rule.endswith((".csv", ".xlsx")) or rule.endpoint.endswith("logout")):
            continue
        missing = sorted(set(rule.arguments) - set(values))
        assert not missing, f"no sample value for {missing} of {rule.rule}: add one here"
        with app.test_request_context():
            from flask import url_for

            path = url_for(rule.endpoint, **{a: values[a] for a in rule.arguments})
        paths.append(path + queries.get(rule.rule, ""))
    return sorted(paths)


def test_no_page_breaks_the_content_security_policy(page, live_app):
    """Every page under the CSP (no inline script or style): no violation is reported, on the
    console or as a securitypolicyviolation event, and the header is there without
    'unsafe-inline'. The pages are every GET route of the app (`_page_paths`)."""
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text)
            if "Content Security Policy" in msg.text else None)
    log_in(page, "admin")
    page.add_init_script("document.addEventListener('securitypolicyviolation', e => "
                         "console.error('Content Security Policy violation: ' + "
                         "e.violatedDirective + ' ' + e.blockedURI));")
    paths = _page_paths(live_app, page)
    assert {"/", "/providers", "/map", "/coverage", "/equalisation", "/data", "/reports",
            "/account/tokens", "/admin/users", "/login", "/fcoc", "/reports/new", "/glossary",
            "/parameters"} <= set(paths)
    for path in paths:
        resp = page.goto(path)
        assert resp is not None and resp.status == 200, path
        csp = resp.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "style-src 'self'" in csp and "object-src 'none'" in csp
        page.wait_for_load_state("networkidle")
        assert violations == [], (path, violations)
    assert page.js_errors == []  # type: ignore[attr-defined]


def _api_items(pg, base: str, query: str) -> list[dict]:
    """The API's rows behind a download link: a run table's JSON, the comparison as rows, or
    every page of a list route with the link's filters."""
    if "/tables/" in base:
        return pg.request.get(f"{base}.json").json()["items"]
    if base.endswith("/scenarios/compare"):
        c = pg.request.get(f"{base}?{query}").json()
        return ([{"scenario": n, "row": "scenario", **v} for n, v in c["columns"].items()]
                + [{"scenario": n, "row": "difference from the baseline", **d}
                   for n, d in c["differences"].items()])
    items, page_no = [], 1
    while page_no:
        body = pg.request.get(f"{base}?{query}&page={page_no}&per_page=1000").json()
        items += body["items"]
        page_no = body["next_page"]
    return items


def _download_every_table(pg, tmp_path, expect: set[str]) -> set[str]:
    """Click both download links of every table on the page; each file must hold the API's
    rows. Returns the downloads' paths (without extension) that were checked."""
    from tests.test_exports import assert_export_matches

    seen = set()
    links = pg.locator(".exports")
    for i in range(links.count()):
        box = links.nth(i)
        base = box.get_attribute("data-export")
        files = {}
        for fmt in ("csv", "xlsx"):
            link = box.locator(f"a.export-{fmt}")
            query = (link.get_attribute("href").split("?", 1) + [""])[1]
            with pg.expect_download() as dl:
                link.click()
            path = tmp_path / f"{len(seen)}-{i}.{fmt}"
            dl.value.save_as(path)
            files[fmt] = path
        assert_export_matches(files["csv"].read_text(encoding="utf-8"),
                              files["xlsx"].read_bytes(), _api_items(pg, base, query))
        seen.add(base.rsplit("/", 1)[-1])
    assert expect <= seen, (expect, seen)
    return seen


def _finished(pg, body: dict) -> int:
    token = pg.locator("meta[name=csrf-token]").get_attribute("content")
    resp = pg.request.post("/api/v1/runs", data=body, headers={"X-CSRFToken": token})
    assert resp.status == 202, resp.text()
    run_id = resp.json()["run_id"]
    while pg.request.get(f"/api/v1/runs/{run_id}").json()["status"] in ("queued", "running"):
        pg.wait_for_timeout(300)
    assert pg.request.get(f"/api/v1/runs/{run_id}").json()["status"] == "done"
    return run_id


def test_every_table_downloads_whole_as_csv_and_xlsx_from_its_page(page, tmp_path):
    log_in(page, "analyst")
    page.goto("/")
    cov = _finished(page, {"kind": "coverage", "levers": {}})
    eq = _finished(page, {"kind": "equalisation", "scenario": {"take_up": 0.5},
                          "options": {"montecarlo_draws": 0, "sweep_parameter": None}})
    token = page.locator("meta[name=csrf-token]").get_attribute("content")
    assert page.request.post("/api/v1/scenarios", headers={"X-CSRFToken": token},
                             data={"name": "half take-up b", "values": {"take_up": 0.5}}
                             ).status in (200, 201)

    page.goto(f"/coverage?run={cov}")
    page.locator("#care-gaps-show-all").click()
    page.wait_for_url(lambda url: "gaps=all" in url)
    page.locator("#care-gaps").wait_for()
    shot(page, "12-coverage-all-gaps-and-downloads")
    _download_every_table(page, tmp_path, {"care_gaps", "utilisation", "cost_by_rurality",
                                           "zone_costs"})
    page.goto(f"/equalisation?run={eq}&compare=half+take-up+b")
    page.locator("#break-even").wait_for()
    _download_every_table(page, tmp_path, {"classes", "break_even", "compare"})
    page.goto("/providers?kind=care_home&rurality=sparse")
    _download_every_table(page, tmp_path, {"providers"})
    page.goto("/")
    _download_every_table(page, tmp_path, {"zones"})
    page.goto("/data")
    shot(page, "13-data-templates")
    _download_every_table(page, tmp_path, {"imports"})
    with page.expect_download() as dl:
        page.locator("#template-help a[data-kind=care-homes]").click()
    assert dl.value.suggested_filename == "template-care-homes.csv"
    assert not page.js_errors, page.js_errors
def test_the_evidence_pack_opens_prints_and_keeps_the_csp(page):
    """The sample's Market Sustainability Plan evidence pack: run it from its page, read every
    section, no CSP violation; its market figures are the JSON's (screenshots 08 and 09)."""
    from caremarket.reports import SAMPLE_MSP

    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text)
            if "Content Security Policy" in msg.text else None)
    page.add_init_script("document.addEventListener('securitypolicyviolation', e => "
                         "console.error('Content Security Policy violation: ' + "
                         "e.violatedDirective + ' ' + e.blockedURI));")
    log_in(page, "analyst")
    page.goto(f"/reports/{SAMPLE_MSP}")
    page.click("#run-now")
    page.locator("#msp-overview").wait_for(timeout=180_000)
    for section in ("overview", "coverage", "fcoc", "exposure", "at_risk", "trajectory",
                    "excluded"):
        assert page.locator(f"#msp-{section}").is_visible(), section
    run_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    report = page.request.get(f"/api/v1/reports/runs/{run_id}").json()
    assert report["report_type"] == "msp"
    overview = next(t for t in report["detail"] if t["name"] == "overview")
    beds = next(r for r in overview["rows"] if r[1] == "beds")[3]
    assert page.locator("dd[data-measure=beds]").inner_text() == f"{beds:,}"
    assert page.locator("#report-headline [data-measure][data-value]").count() >= 10
    shot(page, "08-evidence-pack")
    page.emulate_media(media="print")
    shot(page, "09-evidence-pack-print")
    page.emulate_media(media="screen")
    # the pack's coverage run is now the latest: the Fair cost page sets its travel against
    # the FCoC travel_time line, the Coverage page's cost of care has the FCoC median line
    page.goto("/fcoc")
    assert page.locator("#travel-fcoc tbody tr").count() == 4
    page.locator("section[aria-labelledby=h-travel]").screenshot(
        path=str(ARTIFACTS / "10-fcoc-travel.png"))
    page.goto("/equalisation")
    page.select_option("#choice-la_fee_basis", "fcoc_median")
    page.locator("#choice-la_fee_basis").locator("..").screenshot(
        path=str(ARTIFACTS / "11-fee-basis-lever.png"))
    assert violations == [], violations
    assert page.js_errors == []  # type: ignore[attr-defined]

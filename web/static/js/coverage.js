/* The coverage page: levers -> POST /api/v1/runs (kind coverage), progress while it runs, then
   the result rendered by the server (?run=N&fragment=1) with a map of the zones. */
(function () {
  "use strict";
  const form = document.getElementById("coverage-form");
  const target = document.getElementById("coverage-results");
  const button = document.getElementById("run-button");
  const statusBox = document.getElementById("run-status");
  let resultMap = null;

  const LABELS = {
    unmet_hours: ["Unmet hours a week", (v) => CM.num(v, 1) + " h/week unmet", "warm"],
    travel_minutes_per_contact_hour: ["Travel minutes per contact hour", (v) => CM.num(v, 1) + " travel min per contact hour", "warm"],
    cost_per_contact_hour: ["Cost per contact hour", (v) => CM.money(v, 2) + " per contact hour", "warm"],
    gap: ["Cost above the LA rate, £/hour", (v) => CM.money(v, 2) + " above the LA rate", "warm"],
    unmet_hours_high: ["Unmet hours a week if estimated minutes run long", (v) => CM.num(v, 1) + " h/week unmet if estimates run long", "warm"],
  };

  // The travel band's line of a zone's tooltip: its unmet hours at both ends, and whether its
  // care gap rests on estimated minutes near the limit.
  function bandLine(p) {
    if (!CM.finite(p.unmet_hours_low) || !CM.finite(p.unmet_hours_high)) return "";
    return "<br>if estimates err: " + CM.num(p.unmet_hours_low, 1) + " to " + CM.num(p.unmet_hours_high, 1) +
      " h/week unmet" + (p.reach_uncertain ? "<br><strong>reach uncertain</strong>" : "");
  }

  function levers() {
    const lv = { variant: form.variant.value, solver: form.solver.value, add_sites: form.add_sites.checked };
    ["max_minutes", "visit_minutes", "visits_per_run"].forEach((name) => {
      const raw = form[name].value.trim();
      if (raw !== "") lv[name] = Number(raw);
    });
    lv.remove_provider = Array.from(form.remove_provider.selectedOptions).map((o) => o.value);
    return lv;
  }

  function drawResult(root) {
    if (window.CM.tables) CM.tables(root);
    const data = CM.readJSON("coverage-points", root);
    const el = root.querySelector("#coverage-map");
    if (!data || !el) return;
    if (resultMap) resultMap.remove();
    const map = (resultMap = CM.newMap(el));
    const removed = new Set(data.removed || []);
    const agencies = (data.agencies || []).filter((a) => !removed.has(a.provider_id));
    const layers = CM.providerLayers([], agencies, []);
    let zoneLayer = null;
    let legend = null;
    const select = root.querySelector("#coverage-map-measure");
    function draw(key) {
      const [title, fmt, palette] = LABELS[key];
      const scale = CM.scale(data.points.map((p) => p[key]), palette,
        key === "cost_per_contact_hour" || key === "gap" ? (v) => CM.money(v, 2) : null);
      if (zoneLayer) map.removeLayer(zoneLayer);
      if (legend) legend.remove();
      zoneLayer = CM.zoneLayer(data.points, (p) => p[key], scale, (p, v) =>
        "<strong>" + CM.esc(p.name || p.zone_id) + "</strong> (" + CM.esc(p.zone_id) + ", " + CM.esc(p.rurality || "") + ")<br>" +
        (CM.finite(v) ? fmt(v) : "no value") + "<br>demand " + CM.num(p.demand_hours, 1) + " h/week" + bandLine(p) +
        '<br><a href="/zones/' + encodeURIComponent(p.zone_id) + '">The zone page</a>');
      zoneLayer.addTo(map);
      legend = CM.legend(map, title, scale, [CM.PROVIDER_LEGEND[1]]);
    }
    layers.agencies.addTo(map);
    CM.fit(map, data.points.map((p) => [p.lat, p.lon]));
    select.addEventListener("change", () => draw(select.value));
    draw(select.value);
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (button.disabled) return;
    CM.startRun({
      body: { kind: "coverage", levers: levers() },
      statusBox: statusBox,
      button: button,
      target: target,
      page: form.dataset.page || location.pathname,
      onResult: drawResult,
    });
  });

  const shown = target.querySelector("#coverage-result");
  if (shown && shown.dataset.status === "running") {
    CM.followRun(shown.dataset.runId, { statusBox, button: button.hasAttribute("disabled") ? null : button, target, page: location.pathname, onResult: drawResult });
  } else if (shown) {
    drawResult(target);
  }
})();

/* The map page: zone polygons (GET /api/v1/zones/boundaries.geojson) coloured by a chosen
   figure, the county outline, providers as markers that can be switched off, a scale bar and
   the legend beside the map (not over it). Zones without a boundary are drawn as circles at
   their centres. No tiles: it works off-line. */
(function () {
  "use strict";
  const data = CM.readJSON("map-data");
  const el = document.getElementById("map");
  if (!data || !el) return;
  const map = CM.newMap(el);
  const zones = data.layers.zones;
  const byId = {};
  zones.forEach((z) => (byId[z.zone_id] = z));
  const uncertain = new Set(data.uncertain || []);
  const unreached = new Set(data.coverage_unreached || []);
  const sourceOf = (key) => (data.available.find((m) => m.key === key) || {}).source;
  const noAgency = () => "no agency within " + CM.num(data.coverage_minutes) + " minutes in the coverage run";
  const FORMATS = {
    demand_hours: (v) => CM.num(v, 1) + " contact hours a week",
    unmet_hours: (v) => CM.num(v, 1) + " hours a week unmet",
    travel_minutes_per_contact_hour: (v) => CM.num(v, 1) + " travel minutes per contact hour",
    cost_per_contact_hour: (v) => CM.money(v, 2) + " per contact hour",
    gap: (v) => (v > 0 ? CM.money(v, 2) + " an hour above the LA rate" : CM.money(-v, 2) + " an hour at or below the LA rate"),
    beds_at_risk: (v) => CM.num(v) + " beds at risk or unviable",
    unmet_hours_high: (v) => CM.num(v, 1) + " hours a week unmet if estimated minutes run long",
    self_funder_share: (v) => CM.pct(v) + " self-funders",
    reach: (v) => (v ? "no agency within " : "an agency within ") + CM.num(data.reach_minutes) + " minutes",
  };
  const MONEY = { cost_per_contact_hour: 1, gap: 1 };
  const SOURCES = {
    store: "from the stored zones",
    coverage: "from coverage run #" + data.coverage_run,
    equalisation: "from equalisation run #" + data.equalisation_run,
    reach: "travel minutes as in coverage",
  };
  const REACH = { out: "#bd0026", in: "#dfe6ec" };
  const NONE = "#ffffff";
  const providers = CM.providerLayers(data.layers.care_homes, data.layers.homecare_providers, data.layers.sites);
  let shapes = null; // GeoJSON of the zone boundaries, once fetched
  let zoneLayer = null;
  let outlineLayer = null;

  function scaleFor(key, values) {
    if (key === "reach") {
      return {
        colour: (v) => (CM.finite(v) ? (v ? REACH.out : REACH.in) : null),
        items: [{ colour: REACH.out, label: "no agency within " + CM.num(data.reach_minutes) + " minutes" },
          { colour: REACH.in, label: "an agency within " + CM.num(data.reach_minutes) + " minutes" }],
        zero: null,
      };
    }
    const fmt = MONEY[key] ? (v) => CM.money(v, 2) : key === "self_funder_share" ? (v) => CM.pct(v, 0) : null;
    const s = CM.scale(Object.values(values), key === "demand_hours" || key === "self_funder_share" ? "blue" : "warm", fmt);
    s.zeroLabel = key === "gap" ? "at or below the LA rate" : key === "beds_at_risk" ? "none at risk" : "zero";
    return s;
  }

  function describe(key, z, v) {
    const name = "<strong>" + CM.esc(z.name || z.zone_id) + "</strong> (" + CM.esc(z.zone_id) +
      (z.rurality ? ", " + CM.esc(z.rurality) : "") + ")";
    const value = CM.finite(v) ? FORMATS[key](v) : key === "beds_at_risk" ? "no care homes"
      : sourceOf(key) === "coverage" && unreached.has(z.zone_id) ? noAgency() : "no value";
    const flag = uncertain.has(z.zone_id) ? "<br>reach uncertain" : "";
    return name + "<br>" + value + flag;
  }

  function popup(key, z, v) {
    return describe(key, z, v) + '<br><a class="zone-link" href="/zones/' + encodeURIComponent(z.zone_id) +
      '">Open the zone page</a>';
  }

  function legendBox(title, scale, key) {
    const box = document.getElementById("map-classes");
    let html = "<h3>" + CM.esc(title) + "</h3><ul>";
    scale.items.forEach((it) => {
      html += '<li><i data-colour="' + CM.esc(it.colour) + '"></i>' + CM.esc(it.label) + "</li>";
    });
    if (scale.zero) html += '<li><i data-colour="' + CM.esc(scale.zero) + '"></i>' + CM.esc(scale.zeroLabel || "zero") + "</li>";
    const none = sourceOf(key) === "coverage" && unreached.size ? "no value: " + noAgency() + " (" + CM.num(unreached.size) + " zones)" : "no value";
    html += '<li><i data-colour="' + NONE + '" class="hollow"></i>' + CM.esc(none) + "</li>";
    if (uncertain.size) html += '<li><i data-colour="' + NONE + '" class="dashed"></i>reach uncertain</li>';
    html += "</ul>";
    box.innerHTML = html;
    // colours set through the DOM, not style= attributes (the CSP refuses inline styles)
    box.querySelectorAll("i[data-colour]").forEach((i) => (i.style.background = i.dataset.colour));
  }

  function styleOf(scale, values, zoneId) {
    const v = values[zoneId];
    const fill = scale.colour(v);
    return {
      weight: uncertain.has(zoneId) ? 1.6 : 0.6,
      color: uncertain.has(zoneId) ? "#1d2733" : "#56616c",
      opacity: 0.8,
      dashArray: uncertain.has(zoneId) ? "4 3" : null,
      fillColor: fill || NONE,
      fillOpacity: fill ? 0.85 : 0.35,
    };
  }

  function draw(key) {
    const values = data.measures[key] || {};
    const info = data.available.find((m) => m.key === key);
    const scale = scaleFor(key, values);
    if (zoneLayer) map.removeLayer(zoneLayer);
    zoneLayer = L.featureGroup();
    const drawn = new Set();
    if (shapes) {
      L.geoJSON(shapes, {
        style: (f) => styleOf(scale, values, f.properties.zone_id),
        onEachFeature: (f, layer) => {
          const z = byId[f.properties.zone_id] || f.properties;
          drawn.add(f.properties.zone_id);
          layer.bindTooltip(describe(key, z, values[z.zone_id]), { sticky: true });
          layer.bindPopup(popup(key, z, values[z.zone_id]));
        },
      }).addTo(zoneLayer);
    }
    // zones without a boundary: a circle at the stored centre
    const circles = zones.filter((z) => !drawn.has(z.zone_id) && CM.finite(z.lat));
    circles.forEach((z) => {
      const st = styleOf(scale, values, z.zone_id);
      L.circleMarker([z.lat, z.lon], Object.assign(st, { radius: 6, weight: 1 }))
        .bindTooltip(describe(key, z, values[z.zone_id]))
        .bindPopup(popup(key, z, values[z.zone_id]))
        .addTo(zoneLayer);
    });
    zoneLayer.addTo(map);
    zoneLayer.bringToBack();
    if (outlineLayer) outlineLayer.bringToFront();
    legendBox(info ? info.label.replace("the minutes chosen", CM.num(data.reach_minutes) + " minutes") : key, scale, key);
    document.getElementById("measure-source").textContent = info ? SOURCES[info.source] : "";
    el.dataset.measure = key;
    el.dataset.polygons = String(drawn.size);
  }

  // a zone's popup replaces its hover tooltip while it is open
  map.on("popupopen", () => el.classList.add("popup-open"));
  map.on("popupclose", () => el.classList.remove("popup-open"));

  // the provider layers, switched on and off by the check boxes beside the map
  [["layer-homes", providers.homes], ["layer-agencies", providers.agencies], ["layer-sites", providers.sites]].forEach(([id, layer]) => {
    const box = document.getElementById(id);
    if (!box) return;
    const apply = () => (box.checked ? layer.addTo(map) : map.removeLayer(layer));
    box.addEventListener("change", apply);
    apply();
  });
  CM.fit(map, zones.filter((z) => CM.finite(z.lat)).map((z) => [z.lat, z.lon]));

  const select = document.getElementById("measure");
  const wanted = new URLSearchParams(location.search).get("measure");
  if (wanted && data.measures[wanted]) select.value = wanted;
  select.addEventListener("change", () => {
    draw(select.value);
    const url = new URL(location.href);
    url.searchParams.set("measure", select.value);
    history.replaceState(null, "", url);
  });

  async function load() {
    if (data.boundaries_url) {
      try {
        const [zonesGeo, outline] = await Promise.all([CM.api("GET", data.boundaries_url), CM.api("GET", data.outline_url)]);
        shapes = zonesGeo;
        outlineLayer = L.geoJSON(outline, { style: { weight: 2.2, color: "#1d2733", fill: false, opacity: 0.9 }, interactive: false }).addTo(map);
        const bounds = outlineLayer.getBounds();
        if (bounds.isValid()) map.fitBounds(bounds, { padding: [10, 10] });
      } catch (e) {
        document.getElementById("measure-source").textContent = "zone boundaries could not be loaded (" + e.message + "): zones drawn as circles";
      }
    }
    draw(select.value);
    el.dataset.ready = "1";
  }
  load();
})();

/* The map page: zones coloured by a chosen measure, providers as markers, no tiles. */
(function () {
  "use strict";
  const data = CM.readJSON("map-data");
  const el = document.getElementById("map");
  if (!data || !el) return;
  const map = CM.newMap(el);
  const zones = data.layers.zones;
  const FORMATS = {
    demand_hours: (v) => CM.num(v, 1) + " h/week",
    unmet_hours: (v) => CM.num(v, 1) + " h/week unmet",
    travel_minutes_per_contact_hour: (v) => CM.num(v, 1) + " travel min per contact hour",
    cost_per_contact_hour: (v) => CM.money(v, 2) + " per contact hour",
    beds_at_risk: (v) => CM.num(v) + " beds at risk or unviable",
    unmet_hours_high: (v) => CM.num(v, 1) + " h/week unmet if estimated minutes run long",
  };
  const SOURCES = {
    store: "from the stored zones",
    coverage: "from coverage run #" + data.coverage_run,
    equalisation: "from equalisation run #" + data.equalisation_run,
  };
  const providers = CM.providerLayers(data.layers.care_homes, data.layers.homecare_providers, data.layers.sites);
  let zoneLayer = null;
  let legend = null;

  function draw(key) {
    const values = data.measures[key] || {};
    const info = data.available.find((m) => m.key === key);
    const scale = CM.scale(Object.values(values), key === "demand_hours" ? "blue" : "warm",
      key === "cost_per_contact_hour" ? (v) => CM.money(v, 2) : null);
    if (zoneLayer) map.removeLayer(zoneLayer);
    if (legend) legend.remove();
    zoneLayer = CM.zoneLayer(zones, (z) => values[z.zone_id], scale, (z, v) =>
      "<strong>" + CM.esc(z.name || z.zone_id) + "</strong> (" + CM.esc(z.zone_id) + ", " + CM.esc(z.rurality || "rurality unknown") + ")<br>" +
      (CM.finite(v) ? FORMATS[key](v) : key === "beds_at_risk" ? "no care homes" : "no value"));
    zoneLayer.addTo(map);
    zoneLayer.eachLayer((l) => l.bringToBack && l.bringToBack());
    legend = CM.legend(map, info ? info.label : key, scale, CM.PROVIDER_LEGEND);
    document.getElementById("measure-source").textContent = info ? SOURCES[info.source] : "";
  }

  providers.homes.addTo(map);
  providers.agencies.addTo(map);
  L.control.layers(null, {
    "Care homes": providers.homes,
    "Home-care agencies": providers.agencies,
    "Candidate sites": providers.sites,
  }, { collapsed: false, position: "topright" }).addTo(map);
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
  draw(select.value);
})();

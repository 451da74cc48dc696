/* Shared by the commissioners' pages: number formats, API calls with the CSRF header, run
   polling with a progress bar, HTML fragments, and zone maps drawn from stored coordinates
   (Leaflet with no tile layer: it works on closed networks). Vanilla JS, no build step. */
(function () {
  "use strict";
  const CM = (window.CM = {});

  const finite = (v) => v !== null && v !== undefined && v !== "" && Number.isFinite(Number(v));
  const formats = {};
  const nf = (dp) =>
    formats[dp] ||
    (formats[dp] = new Intl.NumberFormat("en-GB", {
      minimumFractionDigits: dp,
      maximumFractionDigits: dp,
    }));
  CM.finite = finite;
  CM.num = (v, dp = 0) => (finite(v) ? nf(dp).format(Number(v)).replace("-", "−") : "–");
  CM.money = (v, dp = 0) => {
    if (!finite(v)) return "–";
    const x = Number(v);
    return (x < 0 ? "−£" : "£") + nf(dp).format(Math.abs(x));
  };
  CM.pct = (v, dp = 1, signed = false) => {
    if (!finite(v)) return "–";
    const x = 100 * Number(v);
    return (signed && x > 0 ? "+" : "") + nf(dp).format(x).replace("-", "−") + "%";
  };
  CM.lever = (v, name) => {
    if (!finite(v)) return "–";
    const x = 100 * Number(v);
    const sign = x > 1e-10 ? "+" : "";
    if (name === "occupancy_change") return sign + nf(1).format(x).replace("-", "−") + " pts";
    const dp = Math.abs(x - Math.round(x)) < 1e-7 ? 0 : 1;
    return (name.endsWith("_change") ? sign : "") + nf(dp).format(x).replace("-", "−") + "%";
  };
  CM.esc = (s) =>
    String(s === null || s === undefined ? "" : s).replace(/[&<>"']/g, (c) => ({
      "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
    })[c]);

  CM.csrf = () => {
    const m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.content : "";
  };

  /* fetch JSON from the API; on failure throw an Error carrying the envelope's message. */
  CM.api = async function (method, url, body) {
    const opts = {
      method: method,
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": CM.csrf() },
    };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const resp = await fetch(url, opts);
    let data = null;
    try {
      data = await resp.json();
    } catch (e) {
      data = null;
    }
    if (!resp.ok) {
      const env = data && data.error;
      const err = new Error(env ? env.message : resp.status + " " + resp.statusText);
      err.status = resp.status;
      err.details = env ? env.details : null;
      throw err;
    }
    return data;
  };

  CM.readJSON = (id, root) => {
    const el = (root || document).querySelector("#" + id);
    return el ? JSON.parse(el.textContent) : null;
  };

  /* The #run-status box: a message and a progress bar (role=progressbar). */
  CM.status = function (box) {
    const msg = box.querySelector(".msg");
    const bar = box.querySelector(".progress");
    return {
      set(state, text, fraction) {
        box.dataset.state = state;
        msg.textContent = text;
        if (!bar) return;
        if (fraction === null || fraction === undefined) {
          bar.hidden = true;
          return;
        }
        const pc = Math.round(100 * Math.max(0, Math.min(1, fraction)));
        bar.hidden = false;
        bar.setAttribute("aria-valuenow", String(pc));
        bar.firstElementChild.style.width = pc + "%";
      },
    };
  };

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  /* Poll GET /api/v1/runs/<id> until done (resolve with the run) or failed (reject). */
  CM.pollRun = async function (id, onProgress) {
    let wait = 400;
    for (;;) {
      const run = await CM.api("GET", "/api/v1/runs/" + id);
      if (run.status === "done") return run;
      if (run.status === "failed") {
        const err = new Error(run.error || "the run failed");
        err.run = run;
        throw err;
      }
      if (onProgress) onProgress(run);
      await sleep(wait);
      wait = Math.min(2000, Math.round(wait * 1.3));
    }
  };

  /* Start a run (POST /api/v1/runs), show its progress, then swap in the rendered result. */
  CM.startRun = async function (opts) {
    const status = CM.status(opts.statusBox);
    const button = opts.button;
    button.disabled = true;
    status.set("running", "Starting…", 0);
    try {
      const started = await CM.api("POST", "/api/v1/runs", opts.body);
      await CM.followRun(started.run_id, opts);
    } catch (err) {
      status.set("failed", "Could not start the run: " + err.message, null);
      button.disabled = false;
    }
  };

  CM.followRun = async function (id, opts) {
    const status = CM.status(opts.statusBox);
    const button = opts.button;
    if (button) button.disabled = true;
    status.set("running", "Run #" + id + " is running…", 0);
    try {
      await CM.pollRun(id, (run) =>
        status.set("running", "Run #" + id + " is running… " + CM.pct(run.progress, 0), run.progress));
      status.set("running", "Run #" + id + " finished; showing the result…", 1);
      const url = opts.page + "?run=" + id;
      const resp = await fetch(url + "&fragment=1", { credentials: "same-origin" });
      if (!resp.ok) throw new Error("could not load the result (" + resp.status + ")");
      opts.target.innerHTML = await resp.text();
      history.replaceState(null, "", url);
      status.set("done", "Run #" + id + " done.", null);
      if (opts.onResult) opts.onResult(opts.target);
      opts.target.scrollIntoView({ behavior: "smooth", block: "start" });
    } catch (err) {
      status.set("failed", "Run #" + id + " failed: " + err.message, null);
    } finally {
      if (button) button.disabled = false;
    }
  };

  // -- maps ----------------------------------------------------------------------------------

  const PALETTES = {
    warm: ["#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"],
    blue: ["#eff3ff", "#bdd7e7", "#6baed6", "#3182bd", "#08519c"],
  };
  const ZERO = "#cfd6dd";

  /* Quantile classes of the positive values; zero and missing get their own grey. */
  CM.scale = function (values, palette, fmt) {
    const colours = PALETTES[palette || "warm"];
    const pos = values.filter((v) => finite(v) && Number(v) > 1e-9).map(Number).sort((a, b) => a - b);
    const breaks = [];
    for (let k = 1; k < colours.length; k++) {
      const q = pos[Math.min(pos.length - 1, Math.floor((k * pos.length) / colours.length))];
      if (q !== undefined && (breaks.length === 0 || q > breaks[breaks.length - 1])) breaks.push(q);
    }
    const used = colours.slice(colours.length - breaks.length - 1);
    const classOf = (v) => {
      let k = 0;
      while (k < breaks.length && v >= breaks[k]) k++;
      return k;
    };
    const format = fmt || ((v) => CM.num(v, v < 10 ? 1 : 0));
    const items = [];
    if (pos.length) {
      const lo = [pos[0], ...breaks];
      const hi = [...breaks, pos[pos.length - 1]];
      for (let k = 0; k < used.length; k++) {
        items.push({ colour: used[k], label: format(lo[k]) + " – " + format(hi[k]) });
      }
    }
    return {
      colour(v) {
        if (!finite(v)) return null;
        if (Number(v) <= 1e-9) return ZERO;
        return used[classOf(Number(v))];
      },
      items: items,
      zero: ZERO,
      format: format,
    };
  };

  CM.newMap = function (el) {
    const map = L.map(el, { attributionControl: false, zoomSnap: 0.25, preferCanvas: true });
    L.control.scale({ imperial: false }).addTo(map);
    return map;
  };

  CM.fit = function (map, latlngs) {
    if (latlngs.length) map.fitBounds(L.latLngBounds(latlngs), { padding: [20, 20] });
    else map.setView([52.5, -1.5], 6);
  };

  /* A legend control: title, colour classes, and any extra rows {html}. */
  CM.legend = function (map, title, scale, extra) {
    const ctl = L.control({ position: "bottomright" });
    ctl.onAdd = function () {
      const div = L.DomUtil.create("div", "map-legend");
      div.setAttribute("role", "note");
      div.setAttribute("aria-label", "Map legend");
      let html = "<h3>" + CM.esc(title) + "</h3>";
      if (scale) {
        if (!scale.items.length) html += "<div>no values above zero</div>";
        scale.items.forEach((it) => {
          html += '<div><i data-colour="' + CM.esc(it.colour) + '"></i>' + CM.esc(it.label) + "</div>";
        });
        html += '<div><i data-colour="' + CM.esc(scale.zero) + '"></i>zero</div>';
      }
      (extra || []).forEach((row) => (html += "<div>" + row + "</div>"));
      div.innerHTML = html;
      // colours set through the DOM, not style= attributes (the CSP refuses inline styles)
      div.querySelectorAll("i[data-colour]").forEach((i) => (i.style.background = i.dataset.colour));
      return div;
    };
    ctl.addTo(map);
    return ctl;
  };

  /* Zone circles coloured by `measure` (one of the keys of each point). */
  CM.zoneLayer = function (points, valueOf, scale, describe) {
    const layer = L.layerGroup();
    points.forEach((p) => {
      if (!finite(p.lat) || !finite(p.lon)) return;
      const v = valueOf(p);
      const fill = scale.colour(v) || "#ffffff";
      L.circleMarker([p.lat, p.lon], {
        radius: 6,
        weight: 1,
        color: "#4a5663",
        opacity: 0.7,
        fillColor: fill,
        fillOpacity: finite(v) ? 0.9 : 0.2,
      })
        .bindTooltip(describe(p, v))
        .addTo(layer);
    });
    return layer;
  };

  CM.providerLayers = function (careHomes, agencies, sites) {
    const icon = (cls, size) => L.divIcon({ className: "", html: '<div class="' + cls + '"></div>', iconSize: [size, size], iconAnchor: [size / 2, size / 2] });
    const link = (id) => "/providers/" + encodeURIComponent(id);
    const homes = L.layerGroup();
    (careHomes || []).forEach((h) => {
      L.marker([h.lat, h.lon], { icon: icon("mk-home", 10), keyboard: false, title: h.name })
        .bindTooltip(CM.esc(h.name) + "<br>care home, " + CM.num(h.beds) + " beds")
        .bindPopup('<a href="' + link(h.provider_id) + '">' + CM.esc(h.name) + "</a><br>" + CM.num(h.beds) + " beds")
        .addTo(homes);
    });
    const agencyLayer = L.layerGroup();
    (agencies || []).forEach((a) => {
      L.marker([a.lat, a.lon], { icon: icon("mk-agency", 11), keyboard: false, title: a.name })
        .bindTooltip(CM.esc(a.name) + "<br>home-care agency, " + CM.num(a.capacity_hours) + " h/week")
        .bindPopup('<a href="' + link(a.provider_id) + '">' + CM.esc(a.name) + "</a><br>" + CM.num(a.capacity_hours) + " hours a week")
        .addTo(agencyLayer);
    });
    const siteLayer = L.layerGroup();
    (sites || []).forEach((s) => {
      L.marker([s.lat, s.lon], { icon: icon("mk-site", 10), keyboard: false, title: s.name })
        .bindTooltip(CM.esc(s.name || s.site_id) + "<br>candidate site")
        .addTo(siteLayer);
    });
    return { homes: homes, agencies: agencyLayer, sites: siteLayer };
  };

  CM.PROVIDER_LEGEND = [
    '<i class="sq legend-home"></i>care home',
    '<i class="dia legend-agency"></i>home-care agency',
  ];
})();

/* Progress bars rendered by the server carry their width as data-width (the CSP refuses
   style= attributes); set it through the DOM. */
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll(".progress > div[data-width]").forEach(function (el) {
    el.style.width = el.dataset.width + "%";
  });
});

/* <select data-autosubmit> submits its form when changed (the button is kept for no-JS use). */
document.addEventListener("change", function (ev) {
  const el = ev.target;
  if (el && el.matches && el.matches("select[data-autosubmit]") && el.form) el.form.submit();
});

/* <form data-confirm="question"> asks before it is sent (deleting a report, reverting an import). */
document.addEventListener("submit", function (ev) {
  const f = ev.target;
  if (f && f.matches && f.matches("form[data-confirm]") && !window.confirm(f.getAttribute("data-confirm"))) {
    ev.preventDefault();
  }
});

/* The equalisation page: sliders with their values shown, load/save named scenarios
   (GET data embedded, POST /api/v1/scenarios), run (POST /api/v1/runs, kind equalisation) with
   progress, then the server-rendered result (?run=N&fragment=1) and its charts (Chart.js). */
(function () {
  "use strict";
  const form = document.getElementById("equalisation-form");
  const target = document.getElementById("equalisation-results-box");
  const button = document.getElementById("run-button");
  const statusBox = document.getElementById("run-status");
  const loader = document.getElementById("scenario-load");
  const describe = document.getElementById("scenario-description");
  const saved = CM.readJSON("scenarios-data") || [];
  const sliders = Array.from(form.querySelectorAll("input[type=range]"));
  const boxes = Array.from(form.querySelectorAll("input.lever-box"));
  const choices = Array.from(form.querySelectorAll("select.lever-choice"));
  const extrasBox = document.getElementById("scenario-extras");
  const runSaved = document.getElementById("run-saved");
  const COLOURS = { sustainable: "#2e7d32", "at risk": "#c77700", unviable: "#b3261e" };
  let loaded = null; // the saved scenario the levers hold, until one is changed
  let charts = [];
  const boxOf = (name) => document.getElementById("box-" + name);
  const sliderOf = (name) => document.getElementById("lever-" + name);
  const choiceOf = (name) => document.getElementById("choice-" + name);

  function show(name) {
    const out = document.getElementById("out-" + name);
    if (out) out.textContent = CM.lever(boxOf(name).value, name);
  }
  /* the exact values: the number boxes (a slider only moves in its steps) and the loaded
     scenario's other parameters */
  function values() {
    const v = {};
    if (loaded) Object.assign(v, loaded.values);
    boxes.forEach((b) => (v[b.dataset.lever] = Number(b.value)));
    choices.forEach((c) => (v[c.dataset.lever] = c.value));
    extrasBox.querySelectorAll("input").forEach((i) => (v[i.name] = Number(i.value)));
    return v;
  }
  function sameAsLoaded() {
    if (!loaded) return false;
    const v = values();
    return Object.keys(v).every((k) => choiceOf(k)
      ? v[k] === (loaded.values[k] ?? choiceOf(k).dataset.default)
      : Math.abs(v[k] - Number(loaded.values[k] ?? boxOf(k)?.dataset.default ?? v[k])) < 1e-12);
  }
  function changed() {
    if (loaded && !sameAsLoaded()) describe.textContent = "Changed from “" + loaded.name + "”.";
    runSaved.hidden = !loaded;
  }
  sliders.forEach((s) => {
    s.addEventListener("input", () => {
      boxOf(s.dataset.lever).value = s.value;
      show(s.dataset.lever);
      changed();
    });
  });
  choices.forEach((c) => c.addEventListener("change", changed));
  boxes.forEach((b) => {
    show(b.dataset.lever);
    b.addEventListener("input", () => {
      sliderOf(b.dataset.lever).value = b.value; // the slider shows it as near as it can
      show(b.dataset.lever);
      changed();
    });
  });

  function load(name) {
    const sc = saved.find((x) => x.name === name);
    loaded = sc || null;
    boxes.forEach((b) => {
      const k = b.dataset.lever;
      const v = sc && sc.values[k] !== undefined ? sc.values[k] : Number(b.dataset.default);
      b.value = v;
      sliderOf(k).value = v;
      show(k);
    });
    choices.forEach((c) => {
      c.value = sc && sc.values[c.dataset.lever] !== undefined ? sc.values[c.dataset.lever]
        : c.dataset.default;
    });
    extrasBox.textContent = "";
    runSaved.hidden = !sc;
    if (!sc) {
      describe.textContent = "";
      return;
    }
    Object.keys(sc.values).filter((k) => !boxOf(k) && !choiceOf(k)).forEach((k) => {
      const label = document.createElement("label");
      label.textContent = k.replace(/_/g, " ") + " ";
      const input = document.createElement("input");
      input.type = "number";
      input.step = "any";
      input.name = k;
      input.value = sc.values[k];
      input.addEventListener("input", changed);
      label.appendChild(input);
      extrasBox.appendChild(label);
    });
    describe.textContent = sc.description || "";
  }
  loader.addEventListener("change", () => load(loader.value));
  if (loader.value) load(loader.value);
  document.getElementById("reset-sliders").addEventListener("click", () => {
    loader.value = "";
    load("");
  });

  function options() {
    const o = {
      sweep_parameter: form.sweep_parameter.value,
      montecarlo_draws: Number(form.montecarlo_draws.value || 0),
      take_up_dist: form.take_up_dist.value.trim() || null,
      homecare: form.homecare.checked,
    };
    if (form.seed.value.trim() !== "") o.seed = Number(form.seed.value);
    return o;
  }

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (button.disabled) return;
    const body = { kind: "equalisation", options: options() };
    if (loaded && sameAsLoaded()) body.scenario_name = loaded.name;
    else body.scenario = values();
    CM.startRun({ body, statusBox, button, target, page: location.pathname, onResult: drawResult });
  });
  runSaved.addEventListener("click", () => {
    if (!loaded) return;
    load(loaded.name); // the levers show exactly what runs
    const body = { kind: "equalisation", options: options(), scenario_name: loaded.name };
    CM.startRun({ body, statusBox, button, target, page: location.pathname, onResult: drawResult });
  });

  const saveButton = document.getElementById("save-scenario");
  const saveStatus = document.getElementById("save-status");
  saveButton.addEventListener("click", async () => {
    const name = document.getElementById("scenario-name").value.trim();
    if (!name) {
      saveStatus.textContent = "Give the scenario a name first.";
      document.getElementById("scenario-name").focus();
      return;
    }
    saveButton.disabled = true;
    try {
      const rec = await CM.api("POST", "/api/v1/scenarios", {
        name: name,
        description: document.getElementById("scenario-notes").value.trim(),
        values: values(),
      });
      const i = saved.findIndex((x) => x.name === rec.name);
      if (i >= 0) saved[i] = rec;
      else {
        saved.push(rec);
        const opt = document.createElement("option");
        opt.value = opt.textContent = rec.name;
        loader.appendChild(opt);
      }
      loader.value = rec.name;
      loaded = rec;
      saveStatus.textContent = "Saved “" + rec.name + "”" + (i >= 0 ? " (replaced)." : ".") + " Reload to compare it below.";
    } catch (err) {
      saveStatus.textContent = "Not saved: " + err.message;
    } finally {
      saveButton.disabled = false;
    }
  });

  // -- charts ---------------------------------------------------------------------------------

  const TITLES = { take_up: "take-up", convergence: "convergence", la_fee_change: "LA fee change",
    cost_change: "cost change", occupancy_change: "occupancy change" };
  const fmtX = (param) => (v) => CM.lever(v, param);

  /* The "homes that tip first" list: filter its rows by class, zone and group (rows hidden,
     never removed, so the order and the numbering stay those of the run). */
  function wireFilters(root) {
    const box = root.querySelector("#first-filters");
    const table = root.querySelector("#tipping-first");
    if (!box || !table || !table.tBodies.length) return;
    const selects = Array.from(box.querySelectorAll("select[data-filter]"));
    const count = box.querySelector("#first-count");
    const rows = Array.from(table.tBodies[0].rows);
    function apply() {
      const want = {};
      selects.forEach((s) => (want[s.dataset.filter] = s.value));
      let shown = 0;
      rows.forEach((tr) => {
        const ok = Object.keys(want).every((k) => !want[k] || tr.dataset[k] === want[k]);
        tr.hidden = !ok;
        if (ok) shown += 1;
      });
      count.textContent = shown === rows.length ? rows.length + " homes" : shown + " of " + rows.length + " homes";
    }
    selects.forEach((s) => s.addEventListener("change", apply));
    apply();
  }

  function drawResult(root) {
    charts.forEach((c) => c.destroy());
    charts = [];
    if (window.CM.tables) CM.tables(root);
    wireFilters(root);
    const data = CM.readJSON("equalisation-charts", root);
    if (!data || !window.Chart) return;
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.color = "#1d2733";

    const m = data.margins;
    const marginEl = root.querySelector("#margin-chart");
    if (marginEl && m) {
      const labels = m.edges.slice(0, -1).map((e, i) =>
        i === 0 ? "< " + CM.pct(m.edges[1], 0) : i === m.edges.length - 2 ? "≥ " + CM.pct(e, 0) : CM.pct(e, 0));
      charts.push(new Chart(marginEl, {
        type: "bar",
        data: {
          labels: labels,
          datasets: [
            { label: "before", data: m.before, backgroundColor: "rgba(31,95,139,0.35)", borderColor: "#1f5f8b", borderWidth: 1, barPercentage: 1, categoryPercentage: 0.85 },
            { label: "after", data: m.after, backgroundColor: "rgba(179,38,30,0.55)", borderColor: "#b3261e", borderWidth: 1, barPercentage: 1, categoryPercentage: 0.85 },
          ],
        },
        options: {
          maintainAspectRatio: false, animation: false,
          scales: {
            x: { title: { display: true, text: "EBITDARM margin" }, ticks: { maxRotation: 0, autoSkip: true, maxTicksLimit: 12 } },
            y: { beginAtZero: true, title: { display: true, text: "care homes" }, ticks: { precision: 0 } },
          },
          plugins: { tooltip: { callbacks: { title: (items) => "margin " + items[0].label } } },
        },
      }));
    }

    const sw = data.sweep;
    const sweepEl = root.querySelector("#sweep-chart");
    if (sweepEl && sw) {
      const fx = fmtX(sw.parameter);
      const datasets = ["sustainable", "at risk", "unviable"].filter((c) => sw.series[c]).map((c) => ({
        label: "beds " + c, data: sw.x.map((x, i) => ({ x: x, y: sw.series[c][i] })),
        borderColor: COLOURS[c], backgroundColor: COLOURS[c], pointRadius: 2, tension: 0.1,
      }));
      const top = Math.max(...Object.values(sw.series).flat().filter(CM.finite));
      if (CM.finite(sw.current)) {
        datasets.push({ label: "this run", data: [{ x: sw.current, y: 0 }, { x: sw.current, y: top }],
          borderColor: "#5b6675", borderDash: [5, 4], pointRadius: 0, borderWidth: 1.5 });
      }
      charts.push(new Chart(sweepEl, {
        type: "line",
        data: { datasets: datasets },
        options: {
          maintainAspectRatio: false, animation: false, parsing: true,
          interaction: { mode: "nearest", axis: "x", intersect: false },
          scales: {
            x: { type: "linear", min: sw.x[0], max: sw.x[sw.x.length - 1], title: { display: true, text: TITLES[sw.parameter] || sw.parameter }, ticks: { callback: (v) => fx(v) } },
            y: { beginAtZero: true, title: { display: true, text: "beds" }, ticks: { callback: (v) => CM.num(v) } },
          },
          plugins: {
            tooltip: { callbacks: {
              title: (items) => (TITLES[sw.parameter] || sw.parameter) + " " + fx(items[0].parsed.x),
              label: (it) => it.dataset.label + ": " + CM.num(it.parsed.y),
            } },
          },
        },
      }));
    }

    const mc = data.montecarlo;
    const mcEl = root.querySelector("#mc-chart");
    if (mcEl && mc) {
      const keys = [["beds_at_risk", "at risk", COLOURS["at risk"]], ["beds_unviable", "unviable", COLOURS.unviable],
        ["beds_not_sustainable", "not sustainable", "#6a1b9a"]];
      charts.push(new Chart(mcEl, {
        type: "bar",
        data: {
          labels: keys.map((k) => "beds " + k[1]),
          datasets: [
            { type: "bar", label: "90% interval (5% to 95%)", data: keys.map((k) => [mc.market[k[0]].p05, mc.market[k[0]].p95]),
              backgroundColor: keys.map((k) => k[2] + "55"), borderColor: keys.map((k) => k[2]), borderWidth: 1, barPercentage: 0.5 },
            { type: "line", label: "median", data: keys.map((k) => mc.market[k[0]].median), showLine: false,
              pointStyle: "rectRot", pointRadius: 7, pointBackgroundColor: "#1d2733", borderColor: "#1d2733" },
          ],
        },
        options: {
          maintainAspectRatio: false, animation: false,
          scales: { y: { beginAtZero: true, title: { display: true, text: "beds" }, ticks: { callback: (v) => CM.num(v) } } },
          plugins: {
            legend: { labels: { usePointStyle: true } },
            tooltip: { callbacks: { label: (it) => Array.isArray(it.raw)
              ? "90% interval: " + CM.num(it.raw[0]) + " – " + CM.num(it.raw[1])
              : "median: " + CM.num(it.raw) } },
          },
        },
      }));
    }
  }

  const shown = target.querySelector("#equalisation-results");
  if (shown && shown.dataset.status === "running") {
    CM.followRun(shown.dataset.runId, { statusBox, button: button.hasAttribute("disabled") ? null : button, target, page: location.pathname, onResult: drawResult });
  } else if (shown) {
    drawResult(target);
  }
})();

/* The leaderboard page: plots (vendored plotly.js) and live updates. The server renders the table
   from the latest snapshot; when /ws/leaderboard/<modality>/ announces a new snapshot of the shown
   category and method, this fetches it from the JSON API and re-renders table and plots in place.
   Formatting follows ratings/pages.py (rank "1–3", CI "+x / −y", win rate "%"). */
(() => {
  "use strict";
  const cfg = JSON.parse(document.getElementById("lb-config").textContent);
  let data = JSON.parse(document.getElementById("lb-data").textContent); // null: no snapshot yet
  const root = document.querySelector('[data-testid="leaderboard"]');
  const q = (id) => root.querySelector(`[data-testid="${id}"]`);

  document.querySelectorAll("#lb-form select").forEach((s) => s.addEventListener("change", () => s.form.submit()));

  // ---- formatting ----------------------------------------------------------------------------
  const decimals = (rows) => (Math.max(0, ...rows.map((r) => Math.abs(r.rating || 0))) >= 100 ? 0 : 1);
  const num = (x, d) => Number(x).toFixed(d);
  const rankText = (r) => (r.rank_upper == null || r.rank_upper === r.rank ? `${r.rank}` : `${r.rank}–${r.rank_upper}`);
  const ciText = (r, d) => (r.lower == null || r.upper == null ? "—"
    : `+${num(Math.max(r.upper - r.rating, 0), d)} / −${num(Math.max(r.rating - r.lower, 0), d)}`);
  const pct = (x) => (x == null ? "—" : `${Math.round(x * 100)}%`);
  const when = (iso) => `${new Date(iso).toISOString().slice(0, 16).replace("T", " ")} UTC`;

  function el(tag, attrs = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "text") e.textContent = v;
      else if (k === "class") e.className = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) if (c != null) e.append(c);
    return e;
  }

  // ---- table -----------------------------------------------------------------------------------
  function row(r, d, before) {
    const model = el("td", { class: "model" },
      el("span", { class: "name", "data-testid": "lb-name", text: r.name || r.model }), " ",
      el("span", { class: "org", text: r.organization || "" }));
    if (r.preliminary) {
      model.append(" ", el("span", { class: "badge prelim", "data-testid": "lb-preliminary",
        title: `Fewer than ${cfg.preliminary} votes: the rating may still move a lot`, text: "preliminary" }));
    }
    for (const f of r.flags || []) model.append(" ", el("span", { class: "badge flag", title: f, text: f }));
    if ((r.tied_with || []).length) {
      model.append(" ", el("span", { class: "badge tied", "data-testid": "lb-tied",
        title: "Removing under 0.5% of the votes would swap it with a neighbour: shown as tied", text: "tied" }));
    }
    const tr = el("tr", { "data-testid": `lb-row-${r.model}`, "data-model": r.model },
      el("td", { class: "num rank", "data-testid": "lb-rank", text: rankText(r) }),
      model,
      el("td", { class: "num rating", "data-testid": "lb-rating", text: num(r.rating, d) }),
      el("td", { class: "num ci", "data-testid": "lb-ci", text: ciText(r, d) }),
      el("td", { class: "num votes", "data-testid": "lb-model-votes", text: `${r.votes || 0}` }),
      el("td", { class: "num winrate", "data-testid": "lb-winrate", text: pct(r.win_rate) }));
    if (r.preliminary) tr.classList.add("preliminary");
    const old = before[r.model];
    if (old && (old.rank !== r.rank || Math.abs(old.rating - r.rating) >= Math.pow(10, -d))) tr.classList.add("changed");
    if (!old && Object.keys(before).length) tr.classList.add("changed");
    return tr;
  }

  function renderTable(snap, previous) {
    const table = q("lb-table");
    table.querySelectorAll("tbody").forEach((t) => t.remove());
    const d = decimals(snap.models);
    const before = Object.fromEntries(((previous && previous.models) || []).map((r) => [r.model, r]));
    const several = snap.models.some((r) => r.part);
    let tbody = null;
    let part = null;
    for (const r of snap.models) {
      const p = r.part || 1;
      if (!tbody || p !== part) {
        part = p;
        tbody = el("tbody", { "data-part": `${p}` });
        if (several) {
          tbody.append(el("tr", { class: "part-head" }, el("th", { colspan: "6", "data-testid": `lb-part-${p}`,
            text: p > 1 ? `Part ${p} — never compared with part 1: its ratings are on their own scale` : `Part ${p}` })));
        }
        table.append(tbody);
      }
      tbody.append(row(r, d, before));
    }
    q("lb-votes").textContent = `${snap.votes}`;
    q("lb-models").textContent = `${snap.models.length}`;
    const t = q("lb-updated");
    t.setAttribute("datetime", snap.created);
    t.textContent = when(snap.created);
    const notes = q("lb-notes");
    notes.replaceChildren(...(snap.notes || []).map((n) => el("li", { text: n })));
    notes.hidden = !(snap.notes || []).length;
    renderFragility(snap);
    const coef = snap.style_coefficients || {};
    const ci = snap.style_coefficient_intervals || {};
    const sign = (x) => `${x >= 0 ? "+" : ""}${Number(x).toFixed(3)}`;
    q("lb-style").querySelector("ul").replaceChildren(...Object.entries(coef).map(([k, b]) => el("li", {},
      el("strong", { text: k }), ` ${sign(b)} `, el("span", { class: "hint", text: ci[k] ? `[${sign(ci[k][0])}, ${sign(ci[k][1])}]` : "" }))));
    q("lb-style").hidden = !Object.keys(coef).length;
    for (const id of ["lb-meta", "lb-plots"]) q(id).hidden = false;
    table.closest(".table-wrap").hidden = false;
    q("lb-empty").hidden = true;
    root.dataset.snapshot = `${snap.snapshot}`;
    const opt = document.querySelector(`#lb-form select[name="method"] option[value="${cfg.method}"]`);
    if (opt && opt.dataset.label) opt.textContent = opt.dataset.label; // it has data now
  }

  function renderFragility(snap) {
    const box = q("lb-fragility");
    const names = Object.fromEntries(snap.models.map((r) => [r.model, r.name || r.model]));
    const items = (snap.fragility || []).map((f) => {
      const li = el("li", { "data-testid": `fragility-${f.upper}`,
        text: `${names[f.upper] || f.upper} above ${names[f.lower] || f.lower}: ${f.votes_to_swap} vote${f.votes_to_swap === 1 ? "" : "s"} (${(100 * f.share).toFixed(2)}% of all)` });
      if (f.tied) { li.classList.add("tied"); li.append(" — ", el("strong", { text: "tied" })); }
      return li;
    });
    box.querySelector("ul").replaceChildren(...items);
    box.hidden = !items.length;
  }

  // ---- plots -----------------------------------------------------------------------------------
  const layoutBase = { margin: { l: 60, r: 20, t: 10, b: 90 }, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
    font: { family: "system-ui, sans-serif", size: 12 } };
  const plotCfg = { displaylogo: false, responsive: true };

  function matrix(snap, key) {
    const p = snap.plots || {};
    const order = snap.models.map((r) => r.model).filter((m) => (p.models || []).includes(m));
    const idx = order.map((m) => p.models.indexOf(m));
    const names = order.map((m) => (snap.models.find((r) => r.model === m) || {}).name || m);
    const z = idx.map((i) => idx.map((j) => (i === j ? null : ((p[key] || [])[i] || [])[j] ?? null)));
    return { names, z };
  }

  function renderPlots(snap) {
    if (!window.Plotly || !snap) return;
    const d = decimals(snap.models);
    const names = snap.models.map((r) => r.name || r.model);
    Plotly.react("plot-ratings", [{
      type: "scatter", mode: "markers", x: names, y: snap.models.map((r) => r.rating),
      marker: { size: 10, color: snap.models.map((r) => (r.preliminary ? "#9ca3af" : "#4f46e5")) },
      error_y: { type: "data", symmetric: false, color: "#6b7280",
        array: snap.models.map((r) => (r.upper == null ? 0 : r.upper - r.rating)),
        arrayminus: snap.models.map((r) => (r.lower == null ? 0 : r.rating - r.lower)) },
      hovertemplate: `%{x}<br>%{y:.${d}f}<extra></extra>`,
    }], { ...layoutBase, yaxis: { title: { text: "rating" } } }, plotCfg);

    const w = matrix(snap, "win_matrix");
    Plotly.react("plot-wins", [{
      type: "heatmap", x: w.names, y: w.names, z: w.z, zmin: 0, zmax: 1, colorscale: "RdBu", reversescale: false,
      texttemplate: "%{z:.2f}", hovertemplate: "%{y} vs %{x}: %{z:.2f}<extra></extra>", hoverongaps: false,
    }], { ...layoutBase, margin: { l: 110, r: 20, t: 10, b: 110 }, yaxis: { autorange: "reversed" } }, plotCfg);

    const b = matrix(snap, "battle_matrix");
    Plotly.react("plot-battles", [{
      type: "heatmap", x: b.names, y: b.names, z: b.z, colorscale: "Blues", reversescale: true, zmin: 0,
      texttemplate: "%{z}", hovertemplate: "%{y} vs %{x}: %{z} votes<extra></extra>", hoverongaps: false,
    }], { ...layoutBase, margin: { l: 110, r: 20, t: 10, b: 110 }, yaxis: { autorange: "reversed" } }, plotCfg);
  }

  async function renderHistory(snap) {
    if (!window.Plotly || !snap) return;
    // upto: a new URL per snapshot, so a cached history is never older than the table
    const params = new URLSearchParams({ modality: cfg.modality, category: cfg.category, method: cfg.method, upto: String(snap.snapshot) });
    let hist;
    try {
      const res = await fetch(`${cfg.history}?${params}`, { headers: { Accept: "application/json" } });
      if (!res.ok) return;
      hist = (await res.json()).snapshots || [];
    } catch (e) {
      return;
    }
    const traces = snap.models.slice(0, 12).map((r) => ({
      type: "scatter", mode: hist.length > 1 ? "lines+markers" : "markers", name: r.name || r.model,
      x: hist.map((s) => s.created), y: hist.map((s) => (s.ratings[r.model] ?? null)), connectgaps: true,
      customdata: hist.map((s) => s.votes), hovertemplate: `${r.name || r.model}: %{y} (%{customdata} votes)<extra></extra>`,
    }));
    Plotly.react("plot-history", traces, { ...layoutBase, margin: { l: 60, r: 20, t: 10, b: 40 },
      yaxis: { title: { text: "rating" } }, legend: { orientation: "h", y: -0.2 } }, plotCfg);
  }

  // ---- exposure (fetched again whenever the panel is opened) ---------------------------------------
  const exposure = q("exposure");
  async function renderExposure() {
    let body;
    try {
      const res = await fetch(exposure.dataset.url, { headers: { Accept: "application/json" }, cache: "no-store" });
      if (!res.ok) return;
      body = await res.json();
    } catch (e) {
      return;
    }
    const share = (x) => `${Math.round(x * 100)}%`;
    const win = `last_${body.window_days}_days`;
    exposure.querySelector("tbody").replaceChildren(...body.models.map((m) => {
      const name = el("td", { text: m.name });
      if (!m.active) name.append(" ", el("span", { class: "badge", text: "inactive" }));
      else if (!m.healthy) name.append(" ", el("span", { class: "badge flag", text: "unhealthy" }));
      return el("tr", { "data-testid": `exposure-row-${m.model}` }, name,
        el("td", { class: "num", "data-testid": "exposure-probability", text: share(m.sampling_probability) }),
        el("td", { class: "num", "data-testid": "exposure-weight", text: share(m.weight_share) }),
        el("td", { class: "num", "data-testid": "exposure-all", text: `${m.all_time.battles}` }),
        el("td", { class: "num", text: share(m.all_time.share) }),
        el("td", { class: "num", "data-testid": "exposure-recent", text: `${m[win].battles}` }),
        el("td", { class: "num", "data-testid": "exposure-recent-share", text: share(m[win].share) }));
    }));
  }
  exposure.addEventListener("toggle", () => { if (exposure.open) renderExposure(); });

  // ---- live updates ------------------------------------------------------------------------------
  let inflight = false;
  let again = false;

  // A new snapshot is fetched by id: immutable, so never a stale copy from a cache.
  let wanted = null;
  async function refresh(snapshotId) {
    if (snapshotId) wanted = snapshotId;
    if (inflight) { again = true; return; }
    inflight = true;
    try {
      do {
        again = false;
        const params = new URLSearchParams({ modality: cfg.modality, category: cfg.category, method: cfg.method, plots: "1" });
        const url = wanted ? `${cfg.api}snapshots/${wanted}/` : `${cfg.api}?${params}`;
        const res = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
        if (!res.ok) continue;
        const fresh = await res.json();
        if (fresh.snapshot == null) continue; // 200 with an empty list: still no votes
        if (data && fresh.snapshot === data.snapshot) continue;
        const previous = data;
        data = fresh;
        renderTable(data, previous);
        renderPlots(data);
        renderHistory(data);
      } while (again);
    } catch (e) {
      console.warn("leaderboard refresh failed", e);
    } finally {
      inflight = false;
    }
  }

  let delay = 1000;
  let opened = false;
  function connect() {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${proto}://${location.host}${cfg.ws}`);
    ws.onopen = () => {
      delay = 1000;
      root.dataset.ws = "open";
      if (opened) refresh(); // catch up on what landed while disconnected
      opened = true;
    };
    ws.onmessage = (e) => {
      let m;
      try { m = JSON.parse(e.data); } catch (err) { return; }
      if (m.type === "snapshot" && m.modality === cfg.modality && m.category === cfg.category && m.method === cfg.method) refresh(m.snapshot);
    };
    ws.onclose = () => {
      root.dataset.ws = "closed";
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }

  if (data) {
    root.dataset.snapshot = `${data.snapshot}`;
    renderPlots(data);
    renderHistory(data);
  }
  if (!document.querySelector('[data-testid="lb-error"]')) {
    connect();
    refresh(); // a snapshot that landed between the page render and the socket opening
  }
})();

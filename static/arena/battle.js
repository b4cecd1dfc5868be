// The battle page: start a blind (or named) battle, stream the outputs over a WebSocket, unlock
// the vote only when every output is complete, vote, reveal the names, play the next round.
// No model identity is known to this page before the server's vote response.
(function () {
  "use strict";
  const $ = (sel) => document.querySelector(sel);
  const el = (tag, attrs = {}, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else e.setAttribute(k, v);
    }
    kids.forEach((c) => c && e.append(c));
    return e;
  };
  const csrf = () => (document.querySelector("[name=csrfmiddlewaretoken]") || {}).value || "";

  let mode = "pairwise";
  let drawnPromptId = null;
  let drawnPromptText = null;
  let battle = null; // last state from the server
  let ws = null;
  let ready = false;
  let finished = false; // voted or void
  let timings = {};
  let listen = {}; // slot letter -> ms played
  let playing = {}; // slot letter -> performance.now() when play began
  const texts = {}; // "A:0" -> text received so far (for de-duplicating chunks by offset)
  const QUIET_SYNC_MS = 3000; // generating, and nothing heard for this long: ask for the state

  async function api(method, url, body) {
    const res = await fetch(url, {
      method,
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: body ? JSON.stringify(body) : undefined,
      credentials: "same-origin",
    });
    let data = {};
    try { data = await res.json(); } catch (e) { /* empty */ }
    if (!res.ok) throw Object.assign(new Error(data.error || `The server answered ${res.status}.`), { status: res.status, data });
    return data;
  }

  function showError(msg) {
    const e = $("#error");
    e.textContent = msg || "";
    e.hidden = !msg;
    const s = $("#status");
    if (msg && !$("#battle").hidden) s.textContent = msg;
  }

  // ---- setup -------------------------------------------------------------------------------
  function setMode(m) {
    mode = m;
    document.querySelectorAll(".mode").forEach((b) => b.classList.toggle("active", b.dataset.mode === m));
    document.querySelectorAll(".kwise-only").forEach((x) => (x.hidden = m !== "kwise"));
    document.querySelectorAll(".named-only").forEach((x) => (x.hidden = m !== "named"));
    if (m === "named") loadNamedPickers();
  }

  let roster = [];
  async function loadNamedPickers() {
    const modality = $("#modality").value;
    const data = await api("GET", `/api/competitors/?modality=${encodeURIComponent(modality)}`);
    roster = data.models;
    const box = $("#named-pickers");
    box.textContent = "";
    addPicker(0); addPicker(1);
  }
  function addPicker(i) {
    const box = $("#named-pickers");
    if (box.children.length >= 6) return;
    const sel = el("select", { class: "named-model", "data-testid": "named-model" });
    roster.forEach((m, j) => sel.append(el("option", { value: m.slug, text: `${m.model} — ${m.organization}` })));
    sel.selectedIndex = Math.min(i ?? box.children.length, roster.length - 1);
    box.append(sel);
  }

  async function randomPrompt() {
    showError("");
    try {
      const p = await api("GET", `/api/prompts/random/?modality=${encodeURIComponent($("#modality").value)}`);
      $("#prompt").value = p.text;
      drawnPromptId = p.id;
      drawnPromptText = p.text;
    } catch (e) { showError(e.message); }
  }

  async function start(ev) {
    ev.preventDefault();
    showError("");
    const text = $("#prompt").value;
    const body = { modality: $("#modality").value, prompt: text };
    if (drawnPromptId && text === drawnPromptText) body.prompt_id = drawnPromptId;
    if (mode === "kwise") { body.mode = "kwise"; body.k = Number($("#k").value); }
    if (mode === "named") body.models = [...document.querySelectorAll(".named-model")].map((s) => s.value);
    $("#start").disabled = true;
    try {
      const state = await api("POST", "/api/battles/", body);
      beginBattle(state);
    } catch (e) { showError(e.message); }
    finally { $("#start").disabled = false; }
  }

  // ---- battle ------------------------------------------------------------------------------
  function beginBattle(state) {
    battle = state; ready = false; finished = false; timings = {}; listen = {}; playing = {};
    for (const k of Object.keys(texts)) delete texts[k];
    $("#setup").hidden = true;
    $("#battle").hidden = false;
    $("#after").hidden = true;
    $("#feedback").value = "";
    $("#feedback").hidden = false;
    document.querySelectorAll("[data-criterion]").forEach((s) => (s.value = ""));
    $("#criteria-box").hidden = !(state.criteria && state.criteria.length);
    $("#pairwise-vote").hidden = state.mode !== "pairwise";
    $("#kwise-vote").hidden = state.mode !== "kwise";
    render(state);
    setStatus();
    connect(state.battle);
  }

  function connect(id) {
    if (ws) { ws.onclose = null; ws.close(); }
    const proto = location.protocol === "https:" ? "wss" : "ws";
    ws = new WebSocket(`${proto}://${location.host}/ws/battle/${id}/`);
    ws.onmessage = (ev) => { lastEventAt = Date.now(); handle(JSON.parse(ev.data)); };
    ws.onclose = () => { if (!finished && battle && battle.battle === id) setTimeout(() => connect(id), 1000); };
  }

  // Events are delivered at most once (Redis pub/sub): a lost chunk shows as a gap in the
  // offsets, a lost "slot_done"/"battle_ready" as a quiet socket. Either way, ask for the state.
  let lastEventAt = Date.now();
  let syncAskedAt = 0;
  function askSync() {
    if (!ws || ws.readyState !== WebSocket.OPEN || Date.now() - syncAskedAt < 500) return;
    syncAskedAt = Date.now();
    ws.send(JSON.stringify({ type: "sync" }));
  }
  setInterval(() => {
    if (battle && battle.status === "generating" && Date.now() - lastEventAt > QUIET_SYNC_MS) {
      lastEventAt = Date.now();
      askSync();
    }
  }, 1000);

  function handle(msg) {
    switch (msg.type) {
      case "state": battle = msg; render(msg); break;
      case "chunk": onChunk(msg); break;
      case "slot_done": setOutput(msg); break;
      case "slot_failed": markFailed(msg.slot, msg.turn); break;
      case "battle_ready": battle.status = "ready"; battle.can_continue = battle.modality === "text" && battle.turns.length < battle.max_turns; setStatus(); break;
      case "battle_void": battle.status = "void"; battle.message = msg.message; setStatus(); break;
    }
  }

  function card(letter) { return document.querySelector(`.card[data-slot="${letter}"]`); }
  function outBox(letter, turn) { return document.querySelector(`.card[data-slot="${letter}"] .output[data-turn="${turn}"]`); }

  function render(state) {
    const grid = $("#grid");
    grid.className = `grid k${state.k} ${state.modality}`;
    grid.textContent = "";
    state.slots.forEach((s) => {
      const title = el("h3", { class: "slot-title", "data-testid": `slot-title-${s.slot}` }, document.createTextNode(`Model ${s.slot}`));
      if (s.model) title.append(el("span", { class: "name", text: ` · ${s.model}` }));
      const c = el("article", { class: "card", "data-slot": s.slot, "data-testid": `slot-${s.slot}` }, title);
      const conv = el("div", { class: "conversation" });
      state.turns.forEach((t) => {
        if (state.turns.length > 1 || state.modality === "text") conv.append(el("div", { class: "user-msg", text: t.prompt }));
        conv.append(el("div", { class: "output pending", "data-turn": String(t.index), "data-testid": `output-${s.slot}-${t.index}` }));
      });
      c.append(conv);
      if (state.mode === "kwise") {
        const place = el("select", { class: "place", "data-slot": s.slot, "data-testid": `place-${s.slot}`, disabled: "" });
        place.append(el("option", { value: "", text: "place…" }));
        for (let i = 1; i <= state.k; i++) place.append(el("option", { value: String(i), text: String(i) }));
        place.addEventListener("change", () => { interacted(); unlock(); });
        const best = el("button", { type: "button", class: "best vote-btn", "data-slot": s.slot, "data-testid": `best-${s.slot}`, disabled: "" }, document.createTextNode("★ Best"));
        best.addEventListener("click", () => vote({ best: s.slot }));
        c.append(el("div", { class: "rank-row" }, place, best));
      }
      grid.append(c);
      s.outputs.forEach((o) => setOutput(o));
    });
    setStatus();
  }

  function onChunk(msg) {
    const key = `${msg.slot}:${msg.turn}`;
    const have = texts[key] || "";
    if (msg.offset > have.length) { askSync(); return; } // a gap: ask again
    const add = msg.text.slice(have.length - msg.offset);
    if (!add) return; // already had it
    texts[key] = have + add;
    const box = outBox(msg.slot, msg.turn);
    if (box) { box.classList.remove("pending"); box.classList.add("streaming"); box.textContent = texts[key]; }
  }

  function setOutput(o) {
    const box = outBox(o.slot, o.turn);
    if (!box) return;
    const key = `${o.slot}:${o.turn}`;
    if (o.status === "failed") { markFailed(o.slot, o.turn); return; }
    if (o.status !== "done") {
      // A re-render (reconnect, resync) rebuilt the box: show the longer of what we had and what the server has.
      if (o.text && o.text.length > (texts[key] || "").length) texts[key] = o.text;
      if (texts[key]) { box.textContent = texts[key]; box.classList.remove("pending"); box.classList.add("streaming"); }
      return;
    }
    texts[key] = o.text || "";
    box.classList.remove("pending", "streaming");
    box.classList.add("done");
    box.textContent = "";
    if (o.media) box.append(mediaElement(o.slot, o.media));
    if (o.html) { const d = el("div", { class: "md" }); d.innerHTML = o.html; box.append(d); } // sanitised on the server
  }

  function mediaElement(letter, media) {
    const kind = media.mime.split("/")[0];
    let m;
    if (media.mime.startsWith("model/")) {
      m = el("model-viewer", { src: media.url, "camera-controls": "", "auto-rotate": "", "shadow-intensity": "1", alt: `3D output ${letter}` });
    } else if (kind === "image") {
      m = el("img", { src: media.url, alt: `Output ${letter}` });
    } else if (kind === "audio" || kind === "video") {
      m = el(kind, { src: media.url, controls: "", preload: "auto" });
      m.addEventListener("play", () => { playing[letter] = performance.now(); interacted(); });
      const stop = () => { if (playing[letter]) { listen[letter] = (listen[letter] || 0) + (performance.now() - playing[letter]); delete playing[letter]; } };
      m.addEventListener("pause", stop); m.addEventListener("ended", stop);
      m.addEventListener("timeupdate", () => { if (ready) unlock(); });
    } else {
      m = el("a", { href: media.url, text: "download output" });
    }
    m.setAttribute("data-testid", `media-${letter}`);
    return m;
  }

  function markFailed(letter, turn) {
    const box = outBox(letter, turn);
    if (box) { box.classList.remove("pending", "streaming"); box.classList.add("failed"); box.textContent = "This model failed to answer."; }
  }

  function setStatus() {
    if (!battle) return;
    const st = battle.status;
    ready = st === "ready";
    const s = $("#status");
    if (st === "generating") s.textContent = "Generating… the vote opens when every output is complete.";
    else if (st === "ready") {
      s.textContent = battle.mode === "kwise" ? "Rank the outputs, or pick the best." : "Which is better?";
      if (!timings.shown_at) timings.shown_at = Date.now();
    } else if (st === "void") s.textContent = battle.message || "This battle is void.";
    else if (st === "voted") s.textContent = "Voted.";
    unlock();
    $("#continue-form").hidden = !(ready && battle.can_continue);
    if (st === "void") { finished = true; showAfter("", true); }
    if (st === "voted" && battle.slots.some((x) => x.model)) finished = true;
  }

  function listened(letter) {
    return (listen[letter] || 0) + (playing[letter] ? performance.now() - playing[letter] : 0);
  }

  // Votes open when every output is complete and, for audio and video, each clip has played
  // for the minimum time (the server checks it too).
  function unlock() {
    const need = (battle && battle.min_listen_ms) || 0;
    const short = need ? battle.slots.map((s) => s.slot).filter((l) => listened(l) < need) : [];
    const open = ready && !finished && short.length === 0;
    document.querySelectorAll(".vote-btn:not(#submit-ranking)").forEach((b) => (b.disabled = !open));
    document.querySelectorAll(".place").forEach((p) => (p.disabled = !open));
    updateRankingButton(open);
    if (ready && !finished && short.length) $("#status").textContent = `Listen to every clip for at least ${need / 1000} s to vote (still: ${short.join(", ")}).`;
    else if (ready && !finished && need) $("#status").textContent = battle.mode === "kwise" ? "Rank the outputs, or pick the best." : "Which is better?";
  }

  function updateRankingButton(open) {
    const places = [...document.querySelectorAll(".place")];
    $("#submit-ranking").disabled = !(open ?? ready) || places.length === 0 || places.some((p) => !p.value);
  }

  function interacted() { if (!timings.first_interaction_at && timings.shown_at) timings.first_interaction_at = Date.now(); }

  async function sendFollowup(ev) {
    ev.preventDefault();
    const text = $("#followup").value;
    try {
      const state = await api("POST", `/api/battles/${battle.battle}/turns/`, { prompt: text });
      $("#followup").value = "";
      battle = state; ready = false;
      render(state);
    } catch (e) { showError(e.message); }
  }

  async function vote(ballot) {
    if (!ready) return;
    interacted();
    timings.voted_at = Date.now();
    for (const l of Object.keys(playing)) { listen[l] = (listen[l] || 0) + (performance.now() - playing[l]); delete playing[l]; }
    const body = Object.assign({}, ballot, {
      timings, feedback: $("#feedback").value,
      listen_ms: Object.fromEntries(Object.entries(listen).map(([k, v]) => [k, Math.round(v)])),
      idempotency_key: `${battle.battle}:${timings.voted_at}`,
    });
    if (battle.mode === "pairwise") {
      const crit = {};
      document.querySelectorAll("[data-criterion]").forEach((s) => { if (s.value) crit[s.dataset.criterion] = s.value; });
      if (Object.keys(crit).length) body.criteria = crit;
    }
    document.querySelectorAll(".vote-btn, .place").forEach((b) => (b.disabled = true));
    try {
      const send = (b) => api("POST", `/api/battles/${battle.battle}/vote/`, b);
      // static/arena/pow.js: past the threshold the server asks for a solved challenge first.
      const res = await (window.ArenaPow ? ArenaPow.send(send, body, (t) => ($("#status").textContent = t)) : send(body));
      reveal(res);
    } catch (e) { showError(e.message); setStatus(); }
  }

  function submitRanking() {
    const ranking = [...document.querySelectorAll(".place")].map((p) => Number(p.value));
    vote({ ranking });
  }

  function reveal(res) {
    finished = true;
    battle.status = "voted";
    res.models.forEach((m, i) => {
      const t = document.querySelector(`[data-testid="slot-title-${m.slot}"]`);
      if (t && !t.querySelector(".name")) t.append(el("span", { class: "name", "data-testid": `name-${m.slot}`, text: ` · ${m.model}` }), el("small", { class: "org", text: ` (${m.organization})` }));
      const c = card(m.slot);
      if (c && res.ranking[i] === 1) c.classList.add("winner");
    });
    $("#continue-form").hidden = true;
    $("#status").textContent = "Thank you! Here are the models.";
    showAfter(res.counted ? "Your vote counts toward the leaderboard." : `Your vote is kept but not counted: ${res.excluded_because}.`, false);
  }

  function showAfter(text, isVoid) {
    $("#after").hidden = false;
    $("#result").textContent = isVoid ? (battle.message || "This battle is void.") : text;
    document.querySelectorAll(".vote-btn, .place").forEach((b) => (b.disabled = true));
    $("#feedback").hidden = true;
  }

  function newRound() {
    if (ws) { ws.onclose = null; ws.close(); ws = null; }
    battle = null;
    $("#battle").hidden = true;
    $("#setup").hidden = false;
    $("#prompt").value = "";
    drawnPromptId = null;
    showError("");
    $("#prompt").focus();
  }

  // ---- wiring ------------------------------------------------------------------------------
  document.querySelectorAll(".mode").forEach((b) => b.addEventListener("click", () => setMode(b.dataset.mode)));
  $("#modality").addEventListener("change", () => { drawnPromptId = null; if (mode === "named") loadNamedPickers(); });
  $("#add-model").addEventListener("click", () => addPicker());
  $("#random-prompt").addEventListener("click", randomPrompt);
  $("#prompt-form").addEventListener("submit", start);
  $("#continue-form").addEventListener("submit", sendFollowup);
  document.querySelectorAll("#pairwise-vote .vote-btn").forEach((b) => b.addEventListener("click", () => vote({ outcome: b.dataset.outcome })));
  $("#submit-ranking").addEventListener("click", submitRanking);
  $("#new-round").addEventListener("click", newRound);
  $("#battle").addEventListener("pointerdown", interacted);
  $("#battle").addEventListener("wheel", interacted, { passive: true });
  // Select the first modality that has models.
  const sel = $("#modality");
  if (sel.selectedOptions[0] && sel.selectedOptions[0].disabled) {
    const ok = [...sel.options].find((o) => !o.disabled);
    if (ok) sel.value = ok.value;
  }
})();

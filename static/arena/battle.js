// The battle page: start a blind (or named) battle, stream the outputs over a WebSocket, unlock
// the vote only when every output is complete, vote, reveal the names, play the next round.
// No model identity is known to this page before the server's vote response.
// Keyboard: Ctrl+Enter starts; A, B, T, N vote; number keys give the focused (or next unplaced)
// K-wise output its place. No inline script: the page's settings come in a JSON block.
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
  const config = JSON.parse((document.getElementById("arena-config") || {}).textContent || "{}");
  const FULL_PLAY_TOLERANCE_MS = 300; // as the server (arena.services.votes)
  const INTRO_KEY = "arena.intro.dismissed";

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
  let durations = {}; // slot letter -> ms of one full play (from the media element)
  let sending = false; // a follow-up turn is on its way: no vote may slip in
  let voting = false; // a vote is on its way
  let chosen = null; // the vote buttons this voter used, marked after the reveal
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
    document.querySelectorAll(".mode").forEach((b) => {
      const on = b.dataset.mode === m;
      b.classList.toggle("active", on);
      b.setAttribute("aria-selected", on ? "true" : "false");
      b.tabIndex = on ? 0 : -1;
      if (on) $("#mode-panel").setAttribute("aria-labelledby", b.id);
    });
    document.querySelectorAll(".kwise-only").forEach((x) => (x.hidden = m !== "kwise"));
    document.querySelectorAll(".named-only").forEach((x) => (x.hidden = m !== "named"));
    if (m === "named") loadNamedPickers();
    updateKChoices();
  }

  // K choices the roster of the chosen modality allows (at most one output per available model).
  function updateKChoices() {
    const modality = $("#modality").value;
    const maxK = (config.maxK || {})[modality] ?? 6;
    const kSel = $("#k");
    [...kSel.options].forEach((o) => (o.disabled = Number(o.value) > maxK));
    if (kSel.selectedOptions[0] && kSel.selectedOptions[0].disabled) {
      const ok = [...kSel.options].filter((o) => !o.disabled);
      if (ok.length) kSel.value = ok[ok.length - 1].value;
    }
    const note = $("#k-note");
    const label = $("#modality").selectedOptions[0] ? $("#modality").selectedOptions[0].textContent.trim() : modality;
    const kwiseImpossible = mode === "kwise" && maxK < (config.kMin || 3);
    note.textContent = kwiseImpossible
      ? `${label}: too few models for a K-wise battle (it needs at least ${config.kMin || 3}). Choose A vs B instead.`
      : (mode === "kwise" && maxK < 6 ? `${label}: at most ${maxK} outputs (one per available model).` : "");
    note.hidden = mode !== "kwise" || !note.textContent;
    kSel.disabled = kwiseImpossible;
    $("#start").disabled = kwiseImpossible;
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
    roster.forEach((m) => sel.append(el("option", { value: m.slug, text: m.organization ? `${m.model} — ${m.organization}` : m.model })));
    sel.setAttribute("aria-label", `Model ${box.children.length + 1}`);
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
    if (ev) ev.preventDefault();
    if ($("#start").disabled) return;
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
    finally { $("#start").disabled = false; updateKChoices(); }
  }

  // ---- battle ------------------------------------------------------------------------------
  function beginBattle(state) {
    battle = state; ready = false; finished = false; timings = {}; listen = {}; playing = {}; durations = {};
    sending = false; voting = false; chosen = null;
    for (const k of Object.keys(texts)) delete texts[k];
    $("#setup").hidden = true;
    $("#battle").hidden = false;
    $("#after").hidden = true;
    $("#feedback").value = "";
    $("#feedback").hidden = false;
    renderCriteria(state.criteria || []);
    $("#pairwise-vote").hidden = state.mode !== "pairwise";
    $("#kwise-vote").hidden = state.mode !== "kwise";
    document.querySelectorAll(".vote-btn").forEach((b) => { b.classList.remove("chosen"); b.removeAttribute("aria-pressed"); });
    render(state);
    setStatus();
    connect(state.battle);
    $("#grid").focus(); // keyboard and screen-reader users land on the outputs
  }

  // Criteria are per modality (the server says which): one select per criterion, labelled.
  function renderCriteria(criteria) {
    const list = $("#criteria-list");
    list.textContent = "";
    criteria.forEach((c) => {
      const sel = el("select", { "data-criterion": c, "data-testid": `criterion-${c}` });
      [["", "—"], ["a", "A"], ["b", "B"], ["tie", "Tie"], ["both_bad", "Both bad"]].forEach(([v, t]) => sel.append(el("option", { value: v, text: t })));
      const name = c.replace(/_/g, " ");
      list.append(el("label", {}, document.createTextNode(name.charAt(0).toUpperCase() + name.slice(1) + " "), sel));
    });
    $("#criteria-box").hidden = !criteria.length;
    $("#criteria-box").open = false;
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

  function renderPrompt(state) {
    const box = $("#battle-prompt");
    box.textContent = "";
    if (state.modality === "text") { box.hidden = true; return; } // each card shows every turn above its answer
    state.turns.forEach((t) => box.append(el("p", { class: "turn-prompt", "data-testid": `turn-prompt-${t.index}` },
      el("span", { class: "turn-label", text: state.turns.length > 1 ? `Prompt ${t.index + 1}: ` : "Prompt: " }),
      document.createTextNode(t.prompt))));
    box.hidden = false;
  }

  function render(state) {
    // Media elements are rebuilt: what was playing stops counting here (and is kept).
    for (const l of Object.keys(playing)) { listen[l] = (listen[l] || 0) + (performance.now() - playing[l]); delete playing[l]; }
    renderPrompt(state);
    const grid = $("#grid");
    grid.className = `grid k${state.k} ${state.modality}`;
    grid.textContent = "";
    state.slots.forEach((s) => {
      const title = el("h3", { class: "slot-title", "data-testid": `slot-title-${s.slot}` }, document.createTextNode(`Model ${s.slot}`));
      if (s.model) title.append(el("span", { class: "name", text: ` · ${s.model}` }));
      const c = el("article", { class: "card", "data-slot": s.slot, "data-testid": `slot-${s.slot}`, tabindex: "-1", "aria-labelledby": `title-${s.slot}` }, title);
      title.id = `title-${s.slot}`;
      const conv = el("div", { class: "conversation" });
      state.turns.forEach((t) => {
        if (state.modality === "text") conv.append(el("div", { class: "user-msg", text: t.prompt }));
        conv.append(el("div", { class: "output pending", "data-turn": String(t.index), "data-testid": `output-${s.slot}-${t.index}` }));
      });
      c.append(conv);
      if (state.mode === "kwise") {
        const place = el("select", { class: "place", "data-slot": s.slot, "data-testid": `place-${s.slot}`, disabled: "", "aria-label": `Place of output ${s.slot}` });
        place.append(el("option", { value: "", text: "place…" }));
        for (let i = 1; i <= state.k; i++) place.append(el("option", { value: String(i), text: String(i) }));
        place.addEventListener("change", () => { interacted(); unlock(); });
        const best = el("button", { type: "button", class: "best vote-btn", "data-slot": s.slot, "data-testid": `best-${s.slot}`, disabled: "" }, document.createTextNode("★ Best"));
        best.addEventListener("click", () => { chosen = [best]; vote({ best: s.slot }); });
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
    if (o.media) {
      box.append(mediaElement(o.slot, o.media));
      const kind = o.media.mime.split("/")[0];
      if (kind === "audio" || kind === "video") box.append(el("p", { class: "listen hint", "data-slot": o.slot, "data-testid": `listen-${o.slot}` }));
    }
    if (o.html) { const d = el("div", { class: "md" }); d.innerHTML = o.html; box.append(d); } // sanitised on the server
  }

  function mediaElement(letter, media) {
    const kind = media.mime.split("/")[0];
    let m;
    if (media.mime.startsWith("model/")) {
      m = el("model-viewer", { src: media.url, "camera-controls": "", "shadow-intensity": "1", alt: `3D output ${letter}` });
      if (!window.matchMedia("(prefers-reduced-motion: reduce)").matches) m.setAttribute("auto-rotate", ""); // WCAG 2.3.3
    } else if (kind === "image") {
      m = el("img", { src: media.url, alt: `Output ${letter}` });
    } else if (kind === "audio" || kind === "video") {
      m = el(kind, { src: media.url, controls: "", preload: "auto", "aria-label": `${kind === "video" ? "Video" : "Audio"} output ${letter}` });
      m.addEventListener("play", () => { playing[letter] = performance.now(); interacted(); });
      const stop = () => { if (playing[letter]) { listen[letter] = (listen[letter] || 0) + (performance.now() - playing[letter]); delete playing[letter]; } unlock(); };
      m.addEventListener("pause", stop); m.addEventListener("ended", stop);
      m.addEventListener("loadedmetadata", () => { if (Number.isFinite(m.duration) && m.duration > 0) durations[letter] = m.duration * 1000; unlock(); });
      m.addEventListener("timeupdate", () => unlock());
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
    if (st === "generating") setText(s, "Generating… the vote opens when every output is complete.");
    else if (st === "ready") {
      setText(s, battle.mode === "kwise" ? "Rank the outputs, or pick the best." : "Which is better?");
      if (!timings.shown_at) timings.shown_at = Date.now();
    } else if (st === "void") setText(s, battle.message || "This battle is void.");
    else if (st === "voted") setText(s, "Voted.");
    unlock();
    $("#continue-form").hidden = !(ready && battle.can_continue);
    if (st === "void") { finished = true; showAfter("", true); }
    if (st === "voted" && battle.slots.some((x) => x.model)) finished = true;
  }

  function listened(letter) {
    return (listen[letter] || 0) + (playing[letter] ? performance.now() - playing[letter] : 0);
  }

  // The minimum, or one full play of a clip shorter than it (the server applies the same rule
  // to the file's own duration).
  function required(letter, need) {
    const d = durations[letter];
    return d ? Math.min(need, Math.max(0, d - FULL_PLAY_TOLERANCE_MS)) : need;
  }

  function setText(node, text) { if (node.textContent !== text) node.textContent = text; } // aria-live: announce changes only

  // Votes open when every output is complete and, for audio and video, each clip has played
  // for the minimum time or to its end (the server checks it too). Never while a follow-up
  // turn or a vote is on its way.
  function unlock() {
    if (!battle) return;
    const need = battle.min_listen_ms || 0;
    const watch = battle.modality === "video";
    const short = need ? battle.slots.map((s) => s.slot).filter((l) => listened(l) < required(l, need)) : [];
    document.querySelectorAll(".listen").forEach((p) => {
      const l = p.dataset.slot;
      const left = Math.max(0, required(l, need) - listened(l));
      const whole = durations[l] && durations[l] - FULL_PLAY_TOLERANCE_MS < need;
      setText(p, left <= 0 ? `✓ ${watch ? "Watched" : "Heard"} enough of ${l}`
        : whole ? `${watch ? "Watch" : "Listen to"} ${l} to the end (${(left / 1000).toFixed(1)} s left)`
          : `${watch ? "Watch" : "Listen to"} ${l} for ${(left / 1000).toFixed(1)} s more`);
      p.classList.toggle("met", left <= 0);
    });
    const open = ready && !finished && !sending && !voting && short.length === 0;
    document.querySelectorAll(".vote-btn:not(#submit-ranking)").forEach((b) => (b.disabled = !open));
    document.querySelectorAll(".place").forEach((p) => (p.disabled = !open));
    updateRankingButton(open);
    if (ready && !finished && !sending && short.length) {
      setText($("#status"), `${watch ? "Watch" : "Listen to"} every clip for at least ${need / 1000} s, or to its end if shorter, to vote (still: ${short.join(", ")}).`);
    } else if (ready && !finished && !sending && need) setText($("#status"), battle.mode === "kwise" ? "Rank the outputs, or pick the best." : "Which is better?");
  }

  function updateRankingButton(open) {
    const places = [...document.querySelectorAll(".place")];
    $("#submit-ranking").disabled = !(open ?? ready) || places.length === 0 || places.some((p) => !p.value);
  }

  function interacted() { if (!timings.first_interaction_at && timings.shown_at) timings.first_interaction_at = Date.now(); }

  async function sendFollowup(ev) {
    ev.preventDefault();
    if (sending || voting) return;
    const text = $("#followup").value;
    sending = true;
    unlock(); // the vote buttons lock before the request leaves: no vote can slip in between
    try {
      const state = await api("POST", `/api/battles/${battle.battle}/turns/`, { prompt: text });
      $("#followup").value = "";
      battle = state; ready = false;
      render(state);
    } catch (e) { showError(e.message); }
    finally { sending = false; unlock(); }
  }

  async function vote(ballot) {
    if (!ready || finished || sending || voting) return;
    voting = true;
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
      voting = false;
      reveal(res);
    } catch (e) { voting = false; showError(e.message); setStatus(); }
  }

  function submitRanking() {
    const ranking = [...document.querySelectorAll(".place")].map((p) => Number(p.value));
    chosen = [$("#submit-ranking")];
    vote({ ranking });
  }

  function reveal(res) {
    finished = true;
    battle.status = "voted";
    res.models.forEach((m, i) => {
      const t = document.querySelector(`[data-testid="slot-title-${m.slot}"]`);
      if (t && !t.querySelector(".name")) {
        t.append(el("span", { class: "name", "data-testid": `name-${m.slot}`, text: ` · ${m.model}` }));
        if (m.organization) t.append(el("small", { class: "org", text: ` (${m.organization})` })); // no empty brackets
      }
      const c = card(m.slot);
      if (c && res.ranking[i] === 1) c.classList.add("winner");
    });
    $("#continue-form").hidden = true;
    setText($("#status"), "Thank you! Here are the models.");
    showAfter(res.counted ? "Your vote counts toward the leaderboard." : `Your vote is kept but not counted: ${res.excluded_because}.`, false);
    (chosen || []).forEach((b) => { b.classList.add("chosen"); b.setAttribute("aria-pressed", "true"); });
    document.querySelectorAll(".place").forEach((p) => p.classList.toggle("chosen", !!p.value && (chosen || []).includes($("#submit-ranking"))));
    $("#result").focus(); // the result is read out and the next Tab reaches "New round"
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
  // A tablist: arrow keys (and Home/End) move between the tabs.
  $("#modes").addEventListener("keydown", (ev) => {
    const tabs = [...document.querySelectorAll(".mode")];
    const i = tabs.indexOf(document.activeElement);
    if (i < 0) return;
    const j = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[ev.key];
    if (j === undefined) return;
    ev.preventDefault();
    const t = tabs[(j + tabs.length) % tabs.length];
    setMode(t.dataset.mode);
    t.focus();
  });
  $("#modality").addEventListener("change", () => { drawnPromptId = null; updateKChoices(); if (mode === "named") loadNamedPickers(); });
  $("#add-model").addEventListener("click", () => addPicker());
  $("#random-prompt").addEventListener("click", randomPrompt);
  $("#prompt-form").addEventListener("submit", start);
  $("#continue-form").addEventListener("submit", sendFollowup);
  document.querySelectorAll("#pairwise-vote .vote-btn").forEach((b) => b.addEventListener("click", () => { if (b.disabled) return; chosen = [b]; vote({ outcome: b.dataset.outcome }); }));
  $("#submit-ranking").addEventListener("click", submitRanking);
  $("#new-round").addEventListener("click", newRound);
  $("#battle").addEventListener("pointerdown", interacted);
  $("#battle").addEventListener("wheel", interacted, { passive: true });

  // ---- keyboard ----------------------------------------------------------------------------
  const typing = (t) => t && (t.tagName === "TEXTAREA" || t.tagName === "INPUT" || t.tagName === "SELECT" || t.isContentEditable);
  const OUTCOME_KEYS = { a: "vote-a", b: "vote-b", t: "vote-tie", n: "vote-both-bad" };
  function placeByKey(n) {
    const places = [...document.querySelectorAll(".place")];
    if (!places.length || places[0].disabled || n < 1 || n > places.length) return false;
    const inCard = document.activeElement && document.activeElement.closest && document.activeElement.closest(".card");
    const target = (inCard && inCard.querySelector(".place")) || places.find((p) => !p.value);
    if (!target) return false;
    target.value = String(n);
    interacted(); unlock();
    const next = places.find((p) => !p.value);
    (next ? card(next.dataset.slot) : $("#submit-ranking")).focus();
    return true;
  }
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && !$("#intro").hidden) { dismissIntro(); ev.preventDefault(); return; }
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
      if (!$("#setup").hidden) { ev.preventDefault(); start(); }
      else if (!$("#after").hidden) { ev.preventDefault(); newRound(); }
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(ev.target) || $("#battle").hidden || !battle) return;
    const key = ev.key.toLowerCase();
    if (battle.mode === "pairwise" && OUTCOME_KEYS[key]) {
      const b = document.querySelector(`[data-testid="${OUTCOME_KEYS[key]}"]`);
      if (b && !b.disabled) { ev.preventDefault(); b.click(); }
    } else if (battle.mode === "kwise" && /^[1-9]$/.test(ev.key)) {
      if (placeByKey(Number(ev.key))) ev.preventDefault();
    }
  });

  // ---- "how it works" on the first visit: not modal, the prompt box stays usable ----------------
  function stored(key) { try { return localStorage.getItem(key); } catch (e) { return null; } }
  function dismissIntro() {
    $("#intro").hidden = true;
    try { localStorage.setItem(INTRO_KEY, "1"); } catch (e) { /* private mode: shown again next time */ }
    if ($("#intro").contains(document.activeElement) || document.activeElement === document.body) $("#prompt").focus();
  }
  $("#intro-close").addEventListener("click", dismissIntro);
  $("#intro-open").addEventListener("click", () => { $("#intro").hidden = false; $("#intro-close").focus(); });
  if (!stored(INTRO_KEY)) $("#intro").hidden = false;

  // Select the first modality that has models.
  const sel = $("#modality");
  if (sel.selectedOptions[0] && sel.selectedOptions[0].disabled) {
    const ok = [...sel.options].find((o) => !o.disabled);
    if (ok) sel.value = ok.value;
  }
  updateKChoices();
})();

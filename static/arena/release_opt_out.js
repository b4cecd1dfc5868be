// The battle page's "keep my conversations out of the research releases" checkbox: stored on the
// server (the voter), so it holds for every release. Kept apart from battle.js on purpose.
(() => {
  "use strict";
  const box = document.querySelector("[data-testid=release-opt-out]");
  const status = document.getElementById("release-opt-out-status");
  if (!box) return;
  box.addEventListener("change", async () => {
    const want = box.checked;
    const token = document.querySelector("[name=csrfmiddlewaretoken]");
    box.disabled = true;
    try {
      const res = await fetch(box.dataset.url, {
        method: "POST",
        credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRFToken": token ? token.value : ""},
        body: JSON.stringify({opt_out: want}),
      });
      const data = await res.json().catch(() => ({}));
      if (!res.ok) throw new Error(data.error || `HTTP ${res.status}`);
      box.checked = data.release_opt_out;
      status.textContent = data.release_opt_out ? "Saved: your conversations will not be released." : "Saved.";
    } catch (err) {
      box.checked = !want;
      status.textContent = `Could not save your choice (${err.message}).`;
    } finally {
      box.disabled = false;
    }
  });
})();

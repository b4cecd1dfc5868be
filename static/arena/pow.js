// Proof of work for anonymous voters past the threshold (arena.services.pow): when the server
// answers a vote with 428 and a challenge, find a counter n such that
// SHA-256("<challenge>:<n>") starts with `difficulty` zero bits (crypto.subtle), then send the
// vote again with {pow: {challenge, solution}}. No third-party service is involved.
(function () {
  "use strict";
  const BATCH = 256; // digests in flight at once: crypto.subtle is async, one at a time is slow

  function zeroBits(buf) {
    const bytes = new Uint8Array(buf);
    let bits = 0;
    for (const b of bytes) {
      if (b === 0) { bits += 8; continue; }
      return bits + Math.clz32(b) - 24;
    }
    return bits;
  }

  async function solve(challenge, difficulty) {
    if (!(window.crypto && crypto.subtle)) {
      throw new Error("Your browser cannot run the anti-automation check here (it needs a secure https:// connection).");
    }
    const enc = new TextEncoder();
    for (let start = 0; ; start += BATCH) {
      const tries = [];
      for (let n = start; n < start + BATCH; n++) tries.push(crypto.subtle.digest("SHA-256", enc.encode(`${challenge}:${n}`)));
      const digests = await Promise.all(tries);
      for (let i = 0; i < digests.length; i++) {
        if (zeroBits(digests[i]) >= difficulty) return String(start + i);
      }
    }
  }

  // send(body) -> Promise of the answer; it throws an Error carrying .status and .data.
  // On a 428 with a challenge, solve it and send once more (a new challenge comes with each 428).
  async function send(send, body, onStatus) {
    for (let attempt = 0; ; attempt++) {
      try {
        return await send(body);
      } catch (e) {
        const ch = e && e.status === 428 && e.data && e.data.pow;
        if (!ch || attempt >= 2) throw e;
        if (onStatus) onStatus("Checking that you are a person: your browser is solving a small puzzle…");
        const solution = await solve(ch.challenge, ch.difficulty);
        body = Object.assign({}, body, { pow: { challenge: ch.challenge, solution } });
      }
    }
  }

  window.ArenaPow = { solve, send };
})();

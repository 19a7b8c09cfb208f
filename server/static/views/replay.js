// Replay: scrub through a session's log (GET /api/session/{id}/replay) with
// the clock as it was. The state at time T is the log folded up to the last
// entry at or before T; the clock then shows the current turn's frozen
// remainder, or its deadline minus T while it ran.

import { api } from "../api.js";
import { ChainVerifier } from "../chain.js";
import { formatMs } from "../clock.js";
import { fill, h, shortcuts, timeOfDay } from "../dom.js";
import { applyEvent, clockOf, currentTurn, describe, emptyState, personName, seatLabel, timestampMs } from "../model.js";
import { CheckpointWatch } from "../record.js";
import { disposer, shortcutHelp, showRefusal } from "./common.js";
import { renderBadge } from "./widgets.js";

const SPEEDS = [1, 4, 16, 64];

/** States after each entry (a checkpoint every `every` entries, the rest refolded). */
class Timeline {
  constructor(sessionId, entries, every = 50) {
    this.entries = entries;
    this.times = entries.map((e) => timestampMs(e.timestamp));
    this.every = every;
    this.checkpoints = new Map();
    this.lines = [];
    const s = emptyState(sessionId);
    entries.forEach((e, i) => {
      applyEvent(s, e);
      this.lines.push(describe(s, e));
      if (i % every === 0) this.checkpoints.set(i, structuredClone(s));
    });
  }
  get start() {
    return this.times.length ? this.times[0] : 0;
  }
  get end() {
    return this.times.length ? this.times[this.times.length - 1] : 0;
  }
  /** Index of the last entry at or before t (-1 before the first). */
  indexAt(t) {
    let lo = 0;
    let hi = this.times.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.times[mid] <= t) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }
  /** The state after entry i. */
  stateAfter(i) {
    if (i < 0) return null;
    const base = Math.floor(i / this.every) * this.every;
    const s = structuredClone(this.checkpoints.get(base));
    for (let k = base + 1; k <= i; k++) applyEvent(s, this.entries[k]);
    return s;
  }
}

export function mount(root, { id }) {
  const parts = [];
  const dispose = disposer(parts);
  const shell = h("div", { class: "view replay" }, h("h1", {}, "Replay"), h("p", { class: "muted" }, "Loading the log…"));
  root.append(shell);
  let tl = null;
  let playing = 0;
  let speed = 1;
  let lastFrame = 0;

  const slider = h("input", { type: "range", id: "scrub", min: "0", max: "0", step: "100", value: "0", "aria-label": "Time in the session", "aria-valuetext": "" });
  const clockEl = h("div", { class: "clock big", id: "replay-clock", role: "timer", "aria-label": "time left then", "data-remaining-ms": "", "data-running": "false" }, "–:––");
  const speakerEl = h("p", { class: "speaker", id: "replay-speaker" });
  const statusEl = h("p", { class: "clock-status", id: "replay-status" });
  const whenEl = h("p", { class: "when", id: "replay-when", "aria-live": "off" });
  const list = h("ol", { class: "feed replay-feed", id: "replay-feed", "aria-label": "Log entries" });
  const badge = h("span", { class: "badge", role: "status", id: "verified", "data-state": "checking" }, "verifying…");
  const bPlay = h("button", { type: "button", id: "btn-play", class: "primary", "aria-pressed": "false" }, "Play");
  const bPrev = h("button", { type: "button", id: "btn-prev" }, "◀ Previous entry");
  const bNext = h("button", { type: "button", id: "btn-next" }, "Next entry ▶");
  const speedSel = h("select", { id: "speed" }, SPEEDS.map((s) => h("option", { value: String(s) }, `${s}×`)));
  const clockPanelEl = h("section", { class: "clock-panel", "aria-label": "Clock at that moment" }, speakerEl, clockEl, statusEl);

  const show = (t) => {
    if (!tl) return;
    const i = tl.indexAt(t);
    const s = tl.stateAfter(i);
    const rel = t - tl.start;
    slider.value = String(rel);
    slider.setAttribute("aria-valuetext", `${formatMs(rel)} into the session, entry ${i + 1}`);
    whenEl.textContent = `${timeOfDay(t)} · +${formatMs(rel)} · entry #${i + 1} of ${tl.entries.length}`;
    whenEl.dataset.t = String(t);
    whenEl.dataset.index = String(i + 1);
    const c = s ? clockOf(s, t) : null;
    if (!c) {
      clockEl.textContent = "–:––";
      clockEl.dataset.remainingMs = "";
      clockEl.dataset.running = "false";
      clockPanelEl.dataset.level = "idle";
    } else {
      clockEl.textContent = formatMs(c.remaining);
      clockEl.dataset.remainingMs = String(Math.round(c.remaining));
      clockEl.dataset.running = c.running ? "true" : "false";
      clockPanelEl.dataset.level = c.remaining <= 0 ? "out" : c.remaining <= 30000 ? "low" : c.remaining <= 60000 ? "warn" : "ok";
    }
    const turn = s ? currentTurn(s) : null;
    speakerEl.textContent = turn ? `${personName(s, turn.participant_id)} · ${seatLabel(turn.side, turn.speaker)}` : "No one is speaking";
    statusEl.textContent = s ? `Session ${s.status}${turn ? ` · turn ${turn.status}` : ""} · ${s.observers_now} watching` : "Before the session";
    for (const li of list.children) li.classList.toggle("past", Number(li.dataset.index) <= i + 1);
    const cur = list.querySelector(".current");
    if (cur) cur.classList.remove("current");
    const now = list.children[i];
    if (now) {
      now.classList.add("current");
      if (!playing) now.scrollIntoView({ block: "nearest" });
    }
  };

  const at = () => (tl ? tl.start + Number(slider.value) : 0);
  const stepTo = (dir) => {
    if (!tl) return;
    const i = tl.indexAt(at());
    const j = Math.max(0, Math.min(tl.entries.length - 1, i + dir));
    stop();
    show(tl.times[j]);
  };
  const stop = () => {
    if (playing) cancelAnimationFrame(playing);
    playing = 0;
    bPlay.textContent = "Play";
    bPlay.setAttribute("aria-pressed", "false");
  };
  const play = () => {
    if (!tl) return;
    if (playing) {
      stop();
      return;
    }
    if (at() >= tl.end) show(tl.start);
    bPlay.textContent = "Pause";
    bPlay.setAttribute("aria-pressed", "true");
    lastFrame = performance.now();
    const frame = (now) => {
      const t = Math.min(tl.end, at() + (now - lastFrame) * speed);
      lastFrame = now;
      show(t);
      if (t >= tl.end) {
        stop();
        return;
      }
      playing = requestAnimationFrame(frame);
    };
    playing = requestAnimationFrame(frame);
  };
  slider.addEventListener("input", () => {
    stop();
    show(at());
  });
  bPlay.addEventListener("click", play);
  bPrev.addEventListener("click", () => stepTo(-1));
  bNext.addEventListener("click", () => stepTo(1));
  speedSel.addEventListener("change", () => {
    speed = Number(speedSel.value);
  });
  parts.push(
    shortcuts({
      " ": play,
      k: play,
      ArrowLeft: () => stepTo(-1),
      ArrowRight: () => stepTo(1),
      Home: () => tl && (stop(), show(tl.start)),
      End: () => tl && (stop(), show(tl.end)),
    }),
  );
  parts.push(stop);

  /** A signed-in download of one of the session's files (the token goes in the header). */
  const saveButton = (buttonId, path, filename, label) =>
    h(
      "button",
      {
        type: "button",
        class: "link",
        id: buttonId,
        onclick: async () => {
          const res = await api("GET", path, { raw: true });
          const url = URL.createObjectURL(await res.blob());
          const a = h("a", { href: url, download: filename });
          document.body.append(a);
          a.click();
          a.remove();
          setTimeout(() => URL.revokeObjectURL(url), 1000);
        },
      },
      label,
    );
  const download = [
    saveButton("btn-export", `/api/session/${id}/export`, `session-${id}.jsonl`, "Download the log (JSON Lines)"),
    " · ",
    saveButton("btn-bundle", `/api/session/${id}/bundle`, `session-${id}.bundle.json`, "Download the bundle"),
    " (check it with ",
    h("a", { href: "/verify", id: "link-verify" }, "the verifier page"),
    ")",
  ];

  (async () => {
    let data;
    try {
      data = await api("GET", `/api/session/${encodeURIComponent(id)}/replay`);
    } catch (err) {
      if (err.status === 404) showRefusal(root, id, "missing");
      else if (err.status === 401 || err.status === 403) showRefusal(root, id, err.status === 401 ? "sign-in" : "forbidden", err.message);
      else fill(shell, h("h1", {}, "Replay"), h("p", { class: "message error", role: "alert" }, `Could not load the log: ${err.message}`));
      return;
    }
    tl = new Timeline(id, data.entries);
    window.__courtroom.replay = { timeline: tl, show, at };
    const last = tl.entries.length ? tl.stateAfter(tl.entries.length - 1) : null;
    // Chain v1 over the log, then every signed checkpoint against it (record v2).
    const verifier = new ChainVerifier({ sessionId: id });
    const watch = new CheckpointWatch({ sessionId: id });
    for (const e of data.entries) verifier.feed(e).then((ok) => ok && watch.addEntry(e.hash));
    window.__courtroom.replay.watch = watch;
    api("GET", `/api/session/${encodeURIComponent(id)}/checkpoints`)
      .then(({ checkpoints }) => checkpoints.forEach((c) => watch.addCheckpoint(c)))
      .catch(() => {}) // none to check: the badge shows the chain alone
      .then(() => Promise.all([verifier.settled(), watch.settled()]))
      .then(([r]) => {
        renderBadge(badge, r, watch.result()); // checkpoints that waited for entries are checked by now
        const headOk = r.valid && data.head && r.headHash === data.head.hash;
        badge.dataset.head = headOk ? "matches" : "differs";
      });
    slider.max = String(Math.max(0, tl.end - tl.start));
    fill(
      list,
      tl.entries.map((e, i) =>
        h(
          "li",
          { class: `feed-item t-${e.event_type.toLowerCase()}`, "data-index": String(i + 1), "data-seq": String(e.sequence_number) },
          h("button", { type: "button", class: "link", onclick: () => (stop(), show(tl.times[i])) }, h("span", { class: "seq" }, `#${e.sequence_number}`), " ", h("time", {}, timeOfDay(tl.times[i])), " ", tl.lines[i]),
        ),
      ),
    );
    fill(
      shell,
      h(
        "header",
        { class: "view-head" },
        h("div", {}, h("h1", { id: "view-title" }, "Replay"), h("p", { class: "subtitle" }, (last && last.title) || `Session ${id}`)),
        h("div", { class: "indicators" }, h("span", { class: "chip", "data-status": last ? last.status : "" }, last ? last.status : "empty"), badge),
      ),
      h(
        "div",
        { class: "grid two" },
        h(
          "div",
          { class: "stack" },
          clockPanelEl,
          h(
            "section",
            { class: "panel", "aria-labelledby": "scrub-h" },
            h("h2", { id: "scrub-h" }, "Timeline"),
            h("label", { for: "scrub", class: "sr-only" }, "Time in the session"),
            slider,
            whenEl,
            h("div", { class: "actions" }, bPrev, bPlay, bNext, h("label", { for: "speed", class: "inline" }, "Speed "), speedSel),
            h("p", { class: "muted small" }, ...download),
          ),
        ),
        h("section", { class: "panel feed-panel", "aria-labelledby": "entries-h" }, h("h2", { id: "entries-h" }, `Log (${tl.entries.length} entries)`), list),
      ),
      shortcutHelp([
        ["Space or k", "play / pause"],
        ["← →", "previous / next entry"],
        ["Home / End", "start / end"],
      ]),
    );
    show(tl.start);
  })();

  return { dispose };
}

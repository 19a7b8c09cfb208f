// Pieces every live view shows: connection status, verified badge, clock,
// feed, participants. Each takes a LiveSession and keeps itself up to date;
// each returns {node, dispose}.

import { formatMs, spokenMs } from "../clock.js";
import { announce, fill, h, timeOfDay } from "../dom.js";
import { currentTurn, personName, seatLabel } from "../model.js";

const STATUS_TEXT = {
  idle: "not connected",
  connecting: "connecting…",
  live: "live",
  reconnecting: "reconnecting…",
  closed: "disconnected",
};

/** "live" / "reconnecting…" pill (role=status: changes are announced). */
export function connectionPill(live) {
  const node = h("span", { class: "pill", role: "status", id: "connection", "data-status": "connecting" }, "connecting…");
  const off = live.on((kind, data) => {
    if (kind !== "status") return;
    node.dataset.status = data.status;
    node.textContent = STATUS_TEXT[data.status] || data.status;
    node.title = data.detail || "";
  });
  return { node, dispose: off };
}

/**
 * Draw the verified badge from chain v1's result (`verify`, chain.js) and the
 * signed checkpoints' (`signed`, record.js CheckpointWatch): green "✓ verified
 * #1–N · signed at #M" while both hold, red at the first entry that breaks the
 * chain or the first checkpoint that fails (bad signature, unknown key, a
 * root or head the entries contradict). The live views and the replay share it.
 */
export function renderBadge(node, r, signed) {
  const failed = signed && signed.failure;
  delete node.dataset.signedAt;
  delete node.dataset.checkpoint;
  if (!r.valid) {
    node.dataset.state = "broken";
    node.dataset.brokenAt = String(r.firstInvalidSequence);
    node.textContent = `✗ chain broken at #${r.firstInvalidSequence}`;
    node.title = `Entry #${r.firstInvalidSequence} does not verify: ${r.reason || "hash mismatch"}. Nothing after it can be trusted.`;
  } else if (failed) {
    node.dataset.state = "broken";
    node.dataset.checkpoint = "failed";
    node.dataset.checkpointSize = String(failed.size);
    node.textContent = `✗ checkpoint at #${failed.size}: ${failed.short}`;
    node.title = `The signed checkpoint of entries 1..${failed.size} fails: ${failed.reason}. The server's signed record and what this page received disagree.`;
  } else if (r.entries === 0) {
    node.dataset.state = "checking";
    node.textContent = "verifying…";
    node.title = "Waiting for the log";
  } else {
    node.dataset.state = "ok";
    node.dataset.verifiedThrough = String(r.verifiedThrough);
    const at = signed ? signed.signedAt : 0;
    node.textContent = `✓ verified #1–${r.verifiedThrough}` + (at ? ` · signed at #${at}` : "");
    node.title = `Every entry from #1 to #${r.verifiedThrough} recomputes to its chain v1 hash and links to the one before it.`;
    if (at) {
      node.dataset.signedAt = String(at);
      node.title += ` Entries 1..${at} are those of a checkpoint signed with the server's published key.`;
    } else if (signed && signed.unchecked) {
      node.title += ` Signed checkpoints not checked: ${signed.unchecked}.`;
    }
  }
  node.setAttribute("aria-label", node.title ? `${node.textContent}. ${node.title}` : node.textContent);
}

/** The verified badge of a live view (renderBadge, redrawn as entries and checkpoints arrive). */
export function verifiedBadge(live) {
  const node = h("span", { class: "badge", role: "status", id: "verified", "data-state": "checking", tabindex: "0" }, "verifying…");
  const render = () => renderBadge(node, live.verify, live.signed);
  render();
  const off = live.on((kind) => kind === "verify" && render());
  return { node, dispose: off };
}

function clockStatus(live) {
  const s = live.state;
  if (!s) return "";
  const t = currentTurn(s);
  if (s.status === "completed") return "Session completed";
  if (s.status === "pending") return "Waiting for the judge to start the session";
  if (!t) return s.status === "paused" ? "Paused" : "No turn on the clock";
  if (s.status === "paused") return "Paused";
  switch (t.status) {
    case "pending":
      return "Waiting for the speaker to start";
    case "running":
      return "Speaking";
    case "expired":
      return "Time expired";
    default:
      return t.status;
  }
}

/**
 * The clock: mm:ss, with data-remaining-ms / data-running / data-turn-id for
 * tests and tooling. Redrawn every animation frame while running and at once
 * on every change (a pause shows in the same task as its event).
 */
export function clockPanel(live, { big = false, showSpeaker = true } = {}) {
  const time = h("div", {
    class: "clock" + (big ? " big" : ""),
    id: "clock",
    role: "timer",
    "aria-label": "time left",
    "data-remaining-ms": "",
    "data-running": "false",
  }, "–:––");
  const speaker = h("p", { class: "speaker", id: "current-speaker" });
  const status = h("p", { class: "clock-status", id: "clock-status" });
  const node = h("section", { class: "clock-panel", "aria-label": "Clock" }, showSpeaker ? speaker : null, time, status);
  let shown = "";
  let lastRunning = null;
  let lastTurn = null;
  const draw = (remaining, anchor) => {
    if (anchor === null || remaining === null) {
      time.dataset.remainingMs = "";
      time.dataset.running = "false";
      time.dataset.turnId = "";
      if (shown !== "–:––") time.textContent = shown = "–:––";
      node.dataset.level = "idle";
      return;
    }
    const ms = Math.round(remaining);
    time.dataset.remainingMs = String(ms);
    time.dataset.running = anchor.running ? "true" : "false";
    time.dataset.turnId = anchor.turnId || "";
    const text = formatMs(ms);
    if (text !== shown) time.textContent = shown = text;
    node.dataset.level = ms <= 0 ? "out" : ms <= 30000 ? "low" : ms <= 60000 ? "warn" : "ok";
    if (lastRunning !== null && lastTurn === anchor.turnId && lastRunning !== anchor.running) {
      announce(anchor.running ? `Clock running, ${spokenMs(ms)} left` : `Clock stopped at ${spokenMs(ms)}`);
    }
    lastRunning = anchor.running;
    lastTurn = anchor.turnId;
  };
  const drawWords = () => {
    const s = live.state;
    status.textContent = clockStatus(live);
    if (!s) return;
    const t = currentTurn(s);
    speaker.textContent = t ? `${personName(s, t.participant_id)} · ${seatLabel(t.side, t.speaker)}${t.kind !== "main" ? ` (${t.kind})` : ""}` : "No one is speaking";
    node.dataset.session = s.status;
  };
  const unsub = live.clock.subscribe(draw);
  const off = live.on((kind) => {
    if (kind === "state" || kind === "welcome") drawWords();
  });
  drawWords();
  return {
    node,
    dispose() {
      unsub();
      off();
    },
  };
}

/** The event feed, newest first. aria-busy while the history is replayed. */
export function feedList(live, { limit = 200, title = "Event feed" } = {}) {
  const list = h("ol", { class: "feed", id: "feed", role: "log", "aria-live": "polite", "aria-busy": "true", "aria-label": title });
  const item = (f) =>
    h(
      "li",
      { class: `feed-item t-${f.type.toLowerCase()}`, "data-seq": String(f.seq) },
      h("span", { class: "seq", "aria-label": `entry ${f.seq}` }, `#${f.seq}`),
      " ",
      h("time", { datetime: new Date(f.at).toISOString() }, timeOfDay(f.at)),
      " ",
      h("span", { class: "text" }, f.text),
    );
  for (const f of live.feed.slice(-limit)) list.prepend(item(f));
  const off = live.on((kind, f) => {
    if (kind !== "event") return;
    list.prepend(item(f));
    while (list.childElementCount > limit) list.lastElementChild.remove();
    if (!f.replayed || f.seq >= live.socket.welcomeHead) list.setAttribute("aria-busy", "false");
  });
  const offWelcome = live.on((kind, w) => {
    if (kind === "welcome" && w.head.sequence_number <= live.socket.lastSeq) list.setAttribute("aria-busy", "false");
  });
  const node = h("section", { class: "panel feed-panel", "aria-labelledby": "feed-title" }, h("h2", { id: "feed-title" }, title), list);
  return {
    node,
    dispose() {
      off();
      offWelcome();
    },
  };
}

/** Participants with live presence, the expected ones not yet here, and the observer count. */
export function participantsPanel(live) {
  const list = h("ul", { class: "people", id: "participants" });
  const observers = h("p", { class: "observers", id: "observers", "aria-live": "polite" });
  const render = () => {
    const s = live.state;
    if (!s) return;
    const people = Object.values(s.participants).sort((a, b) => (a.role + (a.speaker || 0)).localeCompare(b.role + (b.speaker || 0)));
    const here = new Set(people.map((p) => p.user_id));
    const waiting = (s.expected || []).filter((x) => !x.user_id || !here.has(x.user_id));
    fill(
      list,
      people.map((p) =>
        h(
          "li",
          { class: `person ${p.status}`, "data-user-id": p.user_id, "data-presence": p.status },
          h("span", { class: "dot", "aria-hidden": "true" }),
          h("span", { class: "name" }, p.name || `user ${p.user_id}`),
          " ",
          h("span", { class: "seat" }, seatLabel(p.role, p.speaker)),
          " ",
          h("span", { class: "presence" }, p.status),
        ),
      ),
      waiting.map((x) =>
        h("li", { class: "person expected" }, h("span", { class: "dot", "aria-hidden": "true" }), h("span", { class: "name" }, x.name || "expected"), " ", h("span", { class: "seat" }, seatLabel(x.role || x.side, null)), " ", h("span", { class: "presence" }, "expected")),
      ),
      people.length + waiting.length === 0 ? h("li", { class: "muted" }, "No one has joined yet") : null,
    );
    observers.textContent = `${s.observers_now} watching now (${s.observers_total} in all)`;
    observers.dataset.count = String(s.observers_now);
  };
  render();
  const off = live.on((kind) => (kind === "state" || kind === "welcome") && render());
  const node = h("section", { class: "panel", "aria-labelledby": "people-title" }, h("h2", { id: "people-title" }, "Participants"), list, observers);
  return { node, dispose: off };
}

/** A status line for command results and errors (role=alert on errors). */
export function messageLine() {
  const node = h("p", { class: "message", id: "message", "aria-live": "polite" });
  return {
    node,
    ok(text) {
      node.className = "message ok";
      node.setAttribute("role", "status");
      node.textContent = text;
    },
    error(text) {
      node.className = "message error";
      node.setAttribute("role", "alert");
      node.textContent = text;
    },
    clear() {
      node.textContent = "";
    },
  };
}

/** Header of a live view: title, session status, connection, badge. */
export function liveHeader(live, heading) {
  const title = h("h1", { id: "view-title" }, heading);
  const sub = h("p", { class: "subtitle", id: "session-title" });
  const status = h("span", { class: "chip", id: "session-status" });
  const pill = connectionPill(live);
  const badge = verifiedBadge(live);
  const closed = h("p", { class: "message error", role: "alert", hidden: true, id: "closed" });
  const render = () => {
    const s = live.state;
    if (!s) return;
    sub.textContent = s.title || `Session ${s.session_id}`;
    status.textContent = s.status;
    status.dataset.status = s.status;
  };
  const off = live.on((kind, data) => {
    if (kind === "state" || kind === "welcome") render();
    if (kind === "closed") {
      closed.hidden = false;
      closed.textContent = `The server closed the connection: ${data.reason}`;
    }
    if (kind === "status" && data.status === "live") closed.hidden = true;
  });
  const node = h("header", { class: "view-head" }, h("div", {}, title, sub), h("div", { class: "indicators" }, status, pill.node, badge.node), closed);
  return {
    node,
    dispose() {
      off();
      pill.dispose();
      badge.dispose();
    },
  };
}

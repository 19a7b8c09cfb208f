// The live board: one tile per court of a tournament's day, over one socket
// (the tournament channel, boardsocket.js). Every tile's clock runs on the
// server's time from one requestAnimationFrame loop; a tile's text is written
// only when what it shows changes, so 64 courts cost 64 cheap comparisons a
// frame and a handful of text updates a second.

import { auth } from "../api.js";
import { BoardSocket } from "../boardsocket.js";
import { formatMs } from "../clock.js";
import { fill, h } from "../dom.js";
import { seatLabel } from "../model.js";

const STATUS_WORDS = {
  scheduled: "scheduled",
  unopened: "not opened",
  pending: "pending",
  active: "active",
  paused: "paused",
  completed: "completed",
};

function today() {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

const hhmm = (ms) => new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });

/** What a tile shows about lateness at server time `now`: "" or a reason. */
export function lateness(item, s, now) {
  const start = Date.parse(item.slot.start);
  const end = start + item.slot.duration_minutes * 60000;
  const status = s ? s.status : null;
  if (status === "completed") return "";
  if (now > start && (!s || status === "pending")) return "not started at the slot's start";
  if (status === "active" || status === "paused") {
    if (now > end) return "past the slot's end";
    const t = s.turn;
    if (t && t.running && t.deadline_ms > end) return "turn runs past the slot's end";
    if (t && !t.running && t.status !== "expired" && now + t.remaining_ms > end && ["running", "pending"].includes(t.status)) return "turn runs past the slot's end";
  }
  return "";
}

class Tile {
  constructor(item, board) {
    this.item = item;
    this.board = board;
    this.summary = null;
    this.anchor = null; // {running, deadline, remaining, seq}
    this.shownClock = null;
    this.shownLate = null;
    this.clock = h("div", { class: "tile-clock", role: "timer", "aria-label": "time left", "data-remaining-ms": "", "data-running": "false" }, "–:––");
    this.status = h("span", { class: "chip tile-status" });
    this.speaker = h("p", { class: "tile-speaker" });
    this.warning = h("p", { class: "tile-warning", hidden: true });
    this.people = h("p", { class: "tile-people small" });
    this.badge = h("span", { class: "badge small tile-chain", "data-state": "none" });
    this.late = h("p", { class: "tile-late", hidden: true });
    const slotStart = Date.parse(item.slot.start);
    this.node = h(
      "a",
      {
        class: "tile",
        "data-assignment-id": String(item.assignment_id),
        "data-court": item.court.label,
        "data-slot": item.slot.start,
      },
      h("div", { class: "tile-head" }, h("strong", { class: "tile-court" }, item.court.label), h("span", { class: "tile-time" }, `${hhmm(slotStart)}–${hhmm(slotStart + item.slot.duration_minutes * 60000)}`), this.status),
      h("p", { class: "tile-match" }, `${item.petitioner.name} v. ${item.respondent.name}`),
      h("p", { class: "tile-stage muted small" }, `${item.event.name} · ${item.stage.name}`),
      this.speaker,
      this.clock,
      this.warning,
      this.late,
      h("div", { class: "tile-foot" }, this.people, this.badge),
    );
    this.setItem(item);
  }

  setItem(item) {
    this.item = item;
    const sid = item.session_id;
    this.node.dataset.sessionId = sid || "";
    if (sid) {
      this.node.setAttribute("href", this.board.access === "organiser" ? `#/judge/${sid}` : `#/watch/${sid}`);
    } else {
      this.node.removeAttribute("href");
    }
    this.draw();
  }

  setSummary(s) {
    this.summary = s;
    const t = s.turn;
    if (t && t.running) this.anchor = { running: true, deadline: t.deadline_ms, seq: s.sequence_number, turnId: t.turn_id };
    else if (t) this.anchor = { running: false, remaining: t.status === "expired" ? 0 : t.remaining_ms, seq: s.sequence_number, turnId: t.turn_id };
    else this.anchor = null;
    this.draw();
  }

  /** A clocks frame's [remaining_ms, sequence_number]: re-anchor a running clock of the same head. */
  applyClock([remaining, seq], serverMs) {
    const a = this.anchor;
    if (!a || !a.running || seq < a.seq) return;
    this.anchor = { ...a, deadline: serverMs + remaining, seq };
  }

  /** The words: status, speaker, warnings, people, chain. */
  draw() {
    const s = this.summary;
    const item = this.item;
    let status;
    if (s) status = s.status;
    else if (item.session_id) status = item.session_status || "pending";
    else status = Date.parse(item.slot.start) > this.board.serverNow() ? "scheduled" : "unopened";
    this.node.dataset.status = status;
    this.status.dataset.status = status;
    this.status.textContent = STATUS_WORDS[status] || status;
    if (!s) {
      this.speaker.textContent = item.session_id ? "" : "No session opened yet";
      this.people.textContent = "";
      this.badge.hidden = true;
      this.warning.hidden = true;
      this.tick(this.board.serverNow(), true);
      return;
    }
    const t = s.turn;
    const round = s.round ? `Round ${s.round.index}` : "No round running";
    this.speaker.textContent = t ? `${round} · ${t.name || "speaker"} (${seatLabel(t.side, t.speaker)})${t.status === "pending" ? " · waiting to start" : ""}` : round;
    this.node.dataset.turnStatus = t ? (s.status === "paused" && t.status === "running" ? "paused" : t.status) : "";
    const fired = t ? t.warnings_fired : [];
    this.warning.hidden = fired.length === 0;
    if (fired.length) this.warning.textContent = `⚠ ${formatMs(Math.min(...fired))} warning`;
    const connected = s.participants.filter((p) => p.status === "connected").length;
    const away = s.participants.length - connected;
    this.people.textContent = `${connected} connected${away ? ` · ${away} away` : ""} · ${s.missing.length} missing · ${s.observers} watching`;
    this.people.title = [...s.participants.map((p) => `${p.name} (${seatLabel(p.role, p.speaker)}): ${p.status}`), ...s.missing.map((m) => `${m.name} (${m.role}): missing`)].join("\n");
    this.node.dataset.observers = String(s.observers);
    this.node.dataset.connected = String(connected);
    this.node.dataset.missing = String(s.missing.length);
    this.badge.hidden = false;
    const c = s.chain;
    this.badge.dataset.state = c.state;
    this.badge.textContent = c.state === "ok" ? `✓ verified #1–${c.through}` : c.state === "broken" ? `✗ broken at #${c.broken_at}` : "verifying…";
    this.node.dataset.seq = String(s.sequence_number);
    this.tick(this.board.serverNow(), true);
  }

  /** Called by the board's one animation-frame loop. */
  tick(now, force = false) {
    const a = this.anchor;
    let text = "–:––";
    let ms = null;
    if (a) {
      ms = a.running ? Math.max(0, a.deadline - now) : a.remaining;
      text = formatMs(ms);
    }
    if (text !== this.shownClock || force) {
      this.shownClock = text;
      this.clock.textContent = text;
      this.clock.dataset.remainingMs = ms === null ? "" : String(Math.round(ms));
      this.clock.dataset.running = a && a.running ? "true" : "false";
      this.clock.dataset.level = ms === null ? "idle" : ms <= 0 ? "out" : ms <= 30000 ? "low" : ms <= 60000 ? "warn" : "ok";
    }
  }

  checkLate(now) {
    const why = lateness(this.item, this.summary, now);
    if (why === this.shownLate) return;
    this.shownLate = why;
    this.late.hidden = !why;
    this.late.textContent = why ? `Late: ${why}` : "";
    this.node.dataset.late = why ? "true" : "false";
  }
}

export function mount(root, { id, query, go }) {
  let date = query.get("date") || today();
  const tiles = new Map(); // assignment id -> Tile
  let day = null;
  let access = "public";
  let raf = 0;
  let lastSecond = -1;

  const title = h("h1", { id: "board-title" }, "Live board");
  const sub = h("p", { class: "subtitle", id: "board-subtitle" });
  const pill = h("span", { class: "pill", role: "status", id: "connection", "data-status": "connecting" }, "connecting…");
  const dateIn = h("input", { id: "board-date", type: "date", value: date });
  const slotSel = h("select", { id: "board-slot" }, h("option", { value: "" }, "All slots"));
  const courtSel = h("select", { id: "board-court" }, h("option", { value: "" }, "All courts"));
  const sortSel = h("select", { id: "board-sort" }, h("option", { value: "time" }, "Time, then court"), h("option", { value: "court" }, "Court, then time"));
  const lateOnly = h("input", { id: "board-late-only", type: "checkbox" });
  const counts = h("p", { class: "muted", id: "board-counts", "aria-live": "polite" });
  const grid = h("div", { class: "board-grid", id: "board-grid", role: "region", "aria-label": "Courts" });
  const empty = h("p", { class: "muted", id: "board-empty", hidden: true }, "Nothing is scheduled on this day.");
  const links = h("p", { class: "links", id: "board-links" });
  root.append(
    h(
      "div",
      { class: "view board" },
      h("header", { class: "view-head" }, h("div", {}, title, sub), h("div", { class: "indicators" }, pill)),
      h(
        "div",
        { class: "row board-controls" },
        h("div", { class: "field" }, h("label", { for: "board-date" }, "Day"), dateIn),
        h("div", { class: "field" }, h("label", { for: "board-slot" }, "Slot"), slotSel),
        h("div", { class: "field" }, h("label", { for: "board-court" }, "Court"), courtSel),
        h("div", { class: "field" }, h("label", { for: "board-sort" }, "Sort by"), sortSel),
        h("div", { class: "check" }, lateOnly, h("label", { for: "board-late-only" }, "Late courts only")),
      ),
      counts,
      empty,
      grid,
      links,
    ),
  );

  const serverNow = () => (sock ? sock.serverNow() : Date.now());
  const boardCtx = {
    get access() {
      return access;
    },
    serverNow,
  };

  const layout = () => {
    const list = [...tiles.values()];
    const bySlot = (a, b) => a.item.slot.start.localeCompare(b.item.slot.start) || a.item.court.number - b.item.court.number;
    const byCourt = (a, b) => a.item.court.number - b.item.court.number || a.item.slot.start.localeCompare(b.item.slot.start);
    list.sort(sortSel.value === "court" ? byCourt : bySlot);
    let shown = 0;
    let late = 0;
    for (const t of list) {
      const visible = (!slotSel.value || t.item.slot.start === slotSel.value) && (!courtSel.value || t.item.court.label === courtSel.value) && (!lateOnly.checked || t.node.dataset.late === "true");
      t.node.hidden = !visible;
      if (visible) shown += 1;
      if (t.node.dataset.late === "true") late += 1;
    }
    // Re-append in order only when the order changed (moving nodes is layout work).
    const order = list.map((t) => t.node);
    if (order.some((n, i) => grid.children[i] !== n)) grid.replaceChildren(...order);
    counts.textContent = `${shown} of ${list.length} courts shown · ${late} late`;
    counts.dataset.late = String(late);
    empty.hidden = list.length !== 0;
  };

  const options = (sel, values, label) => {
    const keep = sel.value;
    fill(sel, h("option", { value: "" }, label), values.map(([v, text]) => h("option", { value: v }, text)));
    sel.value = values.some(([v]) => v === keep) ? keep : "";
  };

  const setSchedule = (d) => {
    day = d;
    const seen = new Set();
    for (const item of d.items) {
      seen.add(item.assignment_id);
      const t = tiles.get(item.assignment_id);
      if (t) {
        t.setItem(item);
        // A session opened for this match: its summary may have come before this schedule.
        if (item.session_id && !t.summary && sock && sock.summaries[item.session_id]) t.setSummary(sock.summaries[item.session_id]);
      } else {
        const tile = new Tile(item, boardCtx);
        tiles.set(item.assignment_id, tile);
        if (item.session_id && sock && sock.summaries[item.session_id]) tile.setSummary(sock.summaries[item.session_id]);
      }
    }
    for (const [aid, t] of tiles) {
      if (!seen.has(aid)) {
        t.node.remove();
        tiles.delete(aid);
      }
    }
    const slots = [...new Set(d.items.map((i) => i.slot.start))].sort();
    options(slotSel, slots.map((s) => [s, hhmm(Date.parse(s))]), "All slots");
    const courts = [...new Map(d.items.map((i) => [i.court.label, i.court.number])).entries()].sort((a, b) => a[1] - b[1]);
    options(courtSel, courts.map(([label]) => [label, label]), "All courts");
    sub.textContent = `${d.date} · schedule version ${d.version_number} (${String(d.version_status).toLowerCase()})`;
    const now = serverNow();
    for (const t of tiles.values()) t.checkLate(now);
    layout();
  };

  const tileOf = (sid) => [...tiles.values()].find((t) => t.item.session_id === sid);

  let sock = null;
  const connect = () => {
    if (sock) sock.stop();
    tiles.clear();
    grid.replaceChildren();
    sock = new BoardSocket({
      tournamentId: id,
      date,
      token: () => auth.token,
      onStatus: (status, detail) => {
        pill.dataset.status = status;
        pill.textContent = { connecting: "connecting…", live: "live", reconnecting: "reconnecting…", closed: "disconnected" }[status] || status;
        pill.title = detail || "";
      },
      onBoard: (f) => {
        access = f.access;
        title.textContent = `Live board · ${f.tournament.name}`;
        root.querySelector(".view.board").dataset.access = access;
        setSchedule(f.schedule);
        for (const s of Object.values(sock.summaries)) {
          const t = tileOf(s.session_id);
          if (t) t.setSummary(s);
        }
        fill(links, access === "organiser" ? h("a", { href: `#/tournament/${id}` }, "Schedule of this tournament") : null);
        layout();
      },
      onSummary: (s) => {
        const t = tileOf(s.session_id);
        if (t) {
          t.setSummary(s);
          t.checkLate(serverNow());
          layout();
        }
      },
      onClocks: (f) => {
        for (const [sid, c] of Object.entries(f.clocks)) {
          const t = tileOf(sid);
          if (t) t.applyClock(c, f.server_time_ms);
        }
      },
      onSchedule: (d) => setSchedule(d),
      onClosed: (code, reason) => {
        cancelAnimationFrame(raf);
        const kind = code === 4404 ? "No such board" : code === 4401 ? "Sign in to see this board" : code === 4403 ? "This board is for the organisers" : "The board closed";
        fill(
          root,
          h(
            "section",
            { class: "card narrow refusal", id: "refusal", "data-code": String(code), role: "alert" },
            h("h1", { tabindex: "-1" }, kind),
            h("p", {}, reason),
            code === 4401 ? h("p", {}, h("a", { class: "button primary", href: `#/login?next=${encodeURIComponent(`/board/${id}`)}` }, "Sign in")) : null,
          ),
        );
        root.querySelector("#refusal h1").focus();
      },
    }).start();
    window.__courtroom.board = { socket: sock, tiles, layout };
  };

  // One animation-frame loop for every clock on the board.
  const frame = () => {
    const now = serverNow();
    for (const t of tiles.values()) if (t.anchor) t.tick(now);
    const second = Math.floor(now / 1000);
    if (second !== lastSecond) {
      lastSecond = second;
      let changed = false;
      for (const t of tiles.values()) {
        const before = t.node.dataset.late;
        t.checkLate(now);
        if (t.node.dataset.late !== before) changed = true;
      }
      if (changed) layout();
    }
    raf = requestAnimationFrame(frame);
  };
  raf = requestAnimationFrame(frame);

  for (const el of [slotSel, courtSel, sortSel, lateOnly]) el.addEventListener("change", layout);
  dateIn.addEventListener("change", () => {
    date = dateIn.value || today();
    go(`/board/${id}?date=${date}`);
  });
  connect();
  return {
    dispose() {
      cancelAnimationFrame(raf);
      if (sock) sock.stop();
      if (window.__courtroom.board && window.__courtroom.board.socket === sock) window.__courtroom.board = null;
    },
  };
}

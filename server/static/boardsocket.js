// The tournament channel (docs/protocol.md section 2b), kept alive.
//
// One socket for the whole board. hello carries `known` (the sequence number
// of the last summary of each session), so a reconnect receives every session
// that moved meanwhile and nothing else. A summary older than the one held is
// dropped; a clocks frame older than its tile's summary is ignored.

import { ClockOffset, localNow } from "./clock.js";
import { Backoff } from "./socket.js";

const NO_RETRY = new Set([1000, 1008, 4401, 4403, 4404]);

export class BoardSocket {
  /**
   * @param tournamentId the tournament
   * @param date YYYY-MM-DD
   * @param token () => the bearer token or null
   * @param cb {onStatus(status, detail), onBoard(frame), onSummary(s), onClocks(frame), onSchedule(day), onClosed(code, reason)}
   */
  constructor({ tournamentId, date, token, ...cb }) {
    this.tournamentId = tournamentId;
    this.date = date;
    this.token = token;
    this.cb = cb;
    this.offset = new ClockOffset();
    this.backoff = new Backoff();
    this.known = {}; // session id -> sequence number of the summary held
    this.summaries = {}; // session id -> the latest summary
    this.ws = null;
    this.stopped = false;
    this.connections = 0;
    this.frames = { board: 0, summary: 0, clocks: 0, schedule: 0 }; // tests read these
    this.lastError = null;
    this.pingTimer = 0;
    this.retryTimer = 0;
  }

  url() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    return `${proto}//${location.host}/ws/tournaments/${encodeURIComponent(this.tournamentId)}`;
  }

  start() {
    this._open();
    return this;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    if (this.ws) {
      try {
        this.ws.close(1000, "bye");
      } catch {
        /* already closed */
      }
    }
    this.ws = null;
  }

  /** Drop the connection and resume at once (tests use it to prove resume). */
  reconnectNow(reason = "reconnect") {
    if (this.ws) {
      const old = this.ws;
      this.ws = null;
      old.close(4000, reason);
    }
    this._open();
  }

  serverNow() {
    return localNow() + this.offset.offsetMs;
  }

  _status(s, detail = "") {
    this.status = s;
    if (this.cb.onStatus) this.cb.onStatus(s, detail);
  }

  _open() {
    if (this.stopped) return;
    this._status(this.connections === 0 ? "connecting" : "reconnecting", this.lastError || "");
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.onopen = () => {
      if (ws !== this.ws) return;
      const hello = { type: "hello", v: 1, token: this.token(), date: this.date };
      if (this.connections > 0) hello.known = this.known;
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = (msg) => {
      if (ws !== this.ws) return;
      let f;
      try {
        f = JSON.parse(msg.data);
      } catch {
        return;
      }
      this._frame(f);
    };
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this.ws = null;
      clearInterval(this.pingTimer);
      if (this.stopped) return;
      if (NO_RETRY.has(ev.code)) {
        this._status("closed", this.lastError || ev.reason);
        if (this.cb.onClosed) this.cb.onClosed(ev.code, this.lastError || ev.reason || `closed (${ev.code})`);
        return;
      }
      this.lastError = ev.reason || `connection lost (${ev.code})`;
      this._status("reconnecting", this.lastError);
      this.retryTimer = setTimeout(() => this._open(), this.backoff.next());
    };
  }

  _summary(s) {
    const have = this.known[s.session_id];
    if (have !== undefined && s.sequence_number < have) return false;
    this.known[s.session_id] = s.sequence_number;
    this.summaries[s.session_id] = s;
    return true;
  }

  _frame(f) {
    if (typeof f.server_time_ms === "number") this.offset.observe(f.server_time_ms);
    switch (f.type) {
      case "board":
        this.frames.board += 1;
        this.connections += 1;
        this.backoff.reset();
        this.lastError = null;
        for (const s of f.summaries) this._summary(s);
        this._startPing();
        if (this.cb.onBoard) this.cb.onBoard(f);
        this._status("live");
        break;
      case "summary":
        this.frames.summary += 1;
        if (this._summary(f) && this.cb.onSummary) this.cb.onSummary(f);
        break;
      case "clocks":
        this.frames.clocks += 1;
        if (this.cb.onClocks) this.cb.onClocks(f);
        break;
      case "schedule":
        this.frames.schedule += 1;
        if (this.cb.onSchedule) this.cb.onSchedule(f.schedule);
        break;
      case "pong":
        break;
      case "error":
        this.lastError = f.message;
        break;
      default:
        break;
    }
  }

  _startPing() {
    clearInterval(this.pingTimer);
    let n = 0;
    this.pingTimer = setInterval(() => {
      if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: "ping", id: ++n }));
    }, 15000);
  }
}

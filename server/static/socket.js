// One session's WebSocket (PROTOCOL.md section 2), kept alive.
//
// connect → hello (with resume_from = the last sequence number this page has;
// 0 on the first connection, so the page receives and verifies the whole log)
// → welcome → the entries after resume_from → live. Events are delivered
// exactly once and in order: a duplicate (sequence number already seen) is
// dropped; a gap (a number further than the next) closes this socket and
// reconnects at once with resume_from, so the server sends what is missing.
// A dropped connection is retried with exponential back-off and jitter,
// unless its close code says not to (1000, 1008, 1009, 4403, 4404; 4401 asks
// for a new sign-in).

import { ClockOffset, localNow } from "./clock.js";

const NO_RETRY = new Set([1000, 1008, 1009, 4403, 4404]);
const GAP_CLOSE = 4000;

export class Backoff {
  constructor({ initial = 200, factor = 1.7, maximum = 5000, jitter = 0.2 } = {}) {
    Object.assign(this, { initial, factor, maximum, jitter });
    this.attempt = 0;
  }
  next() {
    const base = Math.min(this.maximum, this.initial * this.factor ** this.attempt);
    this.attempt += 1;
    return Math.round(base * (1 - this.jitter + Math.random() * 2 * this.jitter));
  }
  reset() {
    this.attempt = 0;
  }
}

export class CommandError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/**
 * Callbacks (all optional): onStatus(status, detail), onWelcome(welcome),
 * onEvent(event, {replayed}), onCheckpoint(checkpoint), onTick(tick), onError(errorFrame),
 * onClosed(code, reason) when it gives up for good.
 */
export class CourtSocket {
  constructor({ url, hello, offset = new ClockOffset(), backoff = new Backoff(), pingMs = 15000, ...callbacks }) {
    this.url = url;
    this.helloFields = hello; // () => {as, token, role, speaker}
    this.offset = offset;
    this.backoff = backoff;
    this.pingMs = pingMs;
    this.cb = callbacks;
    this.ws = null;
    this.lastSeq = 0;
    this.welcomeHead = 0;
    this.seqs = []; // every sequence number delivered, in order (tests read it)
    this.duplicates = 0;
    this.gaps = 0;
    this.checkpoints = 0; // checkpoint frames received
    this.connections = 0;
    this.status = "idle";
    this.pending = new Map();
    this.nextId = 1;
    this.retryTimer = 0;
    this.pingTimer = 0;
    this.lastFrameAt = 0;
    this.stopped = false;
    this.lastError = null;
  }

  start() {
    this.stopped = false;
    // Back online, or a phone waking up: do not wait for the back-off timer.
    this._wake = () => {
      if (this.stopped) return;
      if (this.status === "reconnecting" && !this.ws) {
        clearTimeout(this.retryTimer);
        this._open();
      } else if (this.status === "live" && document.visibilityState === "visible" && localNow() - this.lastFrameAt > this.pingMs * 2) {
        this.send("ping").catch(() => {}); // a dead socket shows itself by not answering
      }
    };
    window.addEventListener("online", this._wake);
    document.addEventListener("visibilitychange", this._wake);
    this._open();
    return this;
  }

  /** Leave politely (logged by the server) and close; no reconnect. */
  async leave() {
    if (this.ws && this.ws.readyState === WebSocket.OPEN && this.status === "live") {
      try {
        await Promise.race([this.send("leave"), new Promise((r) => setTimeout(r, 500))]);
      } catch {
        /* closing anyway */
      }
    }
    this.stop();
  }

  stop() {
    this.stopped = true;
    if (this._wake) {
      window.removeEventListener("online", this._wake);
      document.removeEventListener("visibilitychange", this._wake);
    }
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      try {
        ws.close(1000, "bye");
      } catch {
        /* already closed */
      }
    }
    this._failPending("closed");
    this._status("closed", "left");
  }

  /** Send a command; resolves with the reply's result, rejects with a CommandError. */
  send(type, fields = {}) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || this.status !== "live") {
      return Promise.reject(new CommandError("unavailable", "not connected: wait until the page says live"));
    }
    const id = this.nextId++;
    const frame = { type, id, ...fields };
    const sentAt = localNow();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, sentAt, type });
      this.ws.send(JSON.stringify(frame));
    });
  }

  /** Close this connection and reconnect now (used on a gap, and by tests). */
  reconnectNow(reason = "resync") {
    if (this.stopped) return;
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      try {
        ws.close(GAP_CLOSE, reason);
      } catch {
        /* already closed */
      }
    }
    this._failPending(reason);
    clearTimeout(this.retryTimer);
    this._status("reconnecting", reason);
    this._open();
  }

  // --- internals ------------------------------------------------------------

  _status(status, detail = "") {
    this.status = status;
    if (this.cb.onStatus) this.cb.onStatus(status, detail);
  }

  _open() {
    if (this.stopped) return;
    clearInterval(this.pingTimer);
    this._status(this.connections === 0 ? "connecting" : "reconnecting", this.lastError || "");
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      this._retry(`cannot open: ${err.message}`);
      return;
    }
    this.ws = ws;
    this.welcomed = false;
    ws.onopen = () => {
      if (ws !== this.ws) return;
      const fields = this.helloFields();
      ws.send(JSON.stringify({ type: "hello", v: 1, resume_from: this.lastSeq, ...fields }));
    };
    ws.onmessage = (msg) => {
      if (ws !== this.ws) return; // a socket we already left behind
      this.lastFrameAt = localNow();
      let frame;
      try {
        frame = JSON.parse(msg.data);
      } catch {
        return;
      }
      this._frame(frame);
    };
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this.ws = null;
      clearInterval(this.pingTimer);
      this._failPending("connection lost");
      if (this.stopped) return;
      const code = ev.code;
      if (code === 4401) {
        this._status("closed", "sign in again");
        if (this.cb.onClosed) this.cb.onClosed(code, this.lastError || "unauthorized");
        return;
      }
      if (NO_RETRY.has(code)) {
        const why = this.lastError || ev.reason || `closed (${code})`;
        this._status("closed", why);
        if (this.cb.onClosed) this.cb.onClosed(code, why);
        return;
      }
      this._retry(ev.reason || `connection lost (${code})`);
    };
    ws.onerror = () => {
      /* onclose follows */
    };
  }

  _retry(reason) {
    if (this.stopped) return;
    const delay = this.backoff.next();
    this.lastError = reason;
    this._status("reconnecting", reason);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this._open(), delay);
  }

  _failPending(reason) {
    for (const p of this.pending.values()) p.reject(new CommandError("unavailable", reason));
    this.pending.clear();
  }

  _frame(f) {
    switch (f.type) {
      case "welcome":
        this.offset.observe(f.server_time_ms);
        this.welcomed = true;
        this.connections += 1;
        this.welcomeHead = f.head.sequence_number;
        if (f.recovered === false && this.lastSeq > this.welcomeHead) {
          // The server's log ends before what this page has (restored from an
          // older backup?): take its numbering from here; the page says so.
          this.rewoundFrom = this.lastSeq;
          this.lastSeq = this.welcomeHead;
        }
        this.lastError = null;
        this.backoff.reset();
        this._startPing();
        if (this.cb.onWelcome) this.cb.onWelcome(f);
        this._status("live", f.recovered === false ? "the server's log is behind this page" : "");
        break;
      case "event":
        this._event(f);
        break;
      case "checkpoint": // a signed checkpoint of the log (docs/protocol.md section 4)
        this.checkpoints += 1;
        if (this.cb.onCheckpoint) this.cb.onCheckpoint(f);
        break;
      case "tick":
        this.offset.observe(f.server_time_ms);
        if (this.cb.onTick) this.cb.onTick(f);
        break;
      case "reply": {
        if (typeof f.server_time_ms === "number") this.offset.observe(f.server_time_ms);
        const p = this.pending.get(f.ref);
        if (p) {
          this.pending.delete(f.ref);
          p.resolve(f.result);
        }
        break;
      }
      case "pong": {
        const p = this.pending.get(f.ref);
        if (p) {
          this.pending.delete(f.ref);
          this.offset.observeRoundTrip(f.server_time_ms, p.sentAt);
          p.resolve(f);
        }
        break;
      }
      case "error": {
        this.lastError = f.message;
        const p = f.ref !== null && f.ref !== undefined ? this.pending.get(f.ref) : null;
        if (p) {
          this.pending.delete(f.ref);
          p.reject(new CommandError(f.code, f.message));
        } else if (this.cb.onError) {
          this.cb.onError(f);
        }
        break;
      }
      default:
        break;
    }
  }

  _event(e) {
    const seq = e.sequence_number;
    if (seq <= this.lastSeq) {
      this.duplicates += 1;
      return;
    }
    if (seq !== this.lastSeq + 1) {
      this.gaps += 1;
      this.reconnectNow(`gap: expected #${this.lastSeq + 1}, got #${seq}`);
      return;
    }
    this.lastSeq = seq;
    this.seqs.push(seq);
    const { type, ...entry } = e;
    if (this.cb.onEvent) this.cb.onEvent(entry, { replayed: seq <= this.welcomeHead });
  }

  _startPing() {
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      if (!this.ws || this.status !== "live") return;
      if (localNow() - this.lastFrameAt > this.pingMs * 2.5) {
        this.reconnectNow("no answer from the server");
        return;
      }
      this.send("ping").catch(() => {});
    }, this.pingMs);
  }
}

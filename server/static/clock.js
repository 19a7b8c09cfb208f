// The speaking clock: the server's time, corrected for the offset between the
// server's clock and this browser's, interpolated with requestAnimationFrame
// between the server's ticks.
//
// The server owns the clock. A tick says "at server time S the turn had R ms
// left, running or not"; an event says the same more precisely (TURN_STARTED
// and SESSION_RESUMED carry the deadline, SESSION_PAUSED the frozen
// remainder). Between two of them the page shows R - (serverNow() - S), where
// serverNow() is this browser's clock plus the estimated offset. A pause
// freezes the display in the same call that receives the event, before the
// next animation frame.

/** This browser's wall clock in epoch ms, sub-millisecond and monotonic within the page. */
export const localNow = () => performance.timeOrigin + performance.now();

/**
 * Estimates server_time_ms - local time from stamped frames (the twin of
 * clients/_clock.py). Every stamped frame bounds the offset from below (it
 * left the server before it arrived); a pong also bounds it from above (it
 * was stamped after its ping left). The estimate is the middle of the
 * tightest interval over a window of recent samples.
 */
export class ClockOffset {
  constructor(window = 32) {
    this.window = window;
    this.lower = [];
    this.upper = [];
  }

  observe(serverMs, receivedMs = localNow()) {
    this._push(this.lower, serverMs - receivedMs);
  }

  observeRoundTrip(serverMs, sentMs, receivedMs = localNow()) {
    this._push(this.lower, serverMs - receivedMs);
    this._push(this.upper, serverMs - sentMs);
  }

  _push(list, value) {
    list.push(value);
    if (list.length > this.window) list.shift();
  }

  get offsetMs() {
    if (this.lower.length === 0) return 0;
    const low = Math.max(...this.lower);
    if (this.upper.length === 0) return low;
    const high = Math.min(...this.upper);
    if (high < low) return this.lower[this.lower.length - 1];
    return (low + high) / 2;
  }
}

/** "m:ss" (or "h:mm:ss"), rounding up so 0:00 appears only when time is out. */
export function formatMs(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** Words for screen readers: "2 minutes 5 seconds". */
export function spokenMs(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const m = Math.floor(total / 60);
  const s = total % 60;
  const parts = [];
  if (m) parts.push(`${m} minute${m === 1 ? "" : "s"}`);
  if (s || !m) parts.push(`${s} second${s === 1 ? "" : "s"}`);
  return parts.join(" ");
}

/**
 * The live clock of one session. `anchor` is {turnId, remaining, at, running,
 * seq}: `remaining` ms were left at server time `at`. Listeners get
 * (remainingMs, anchor) once per animation frame while it runs, and once
 * synchronously on every change.
 */
export class LiveClock {
  constructor(offset = new ClockOffset()) {
    this.offset = offset;
    this.anchor = null;
    this.listeners = new Set();
    this.frame = 0;
    this.frozenAt = null; // local epoch ms when a running clock last stopped
    this.startedAt = null; // local epoch ms when it last started running
    this.lastSeq = 0; // sequence number of the entry the anchor derives from
  }

  serverNow() {
    return localNow() + this.offset.offsetMs;
  }

  /** Remaining ms at a given server time (null without a turn on the clock). */
  remainingAt(serverMs) {
    const a = this.anchor;
    if (a === null) return null;
    if (!a.running) return a.remaining;
    return Math.max(0, a.remaining - (serverMs - a.at));
  }

  /** Remaining ms at a given local (browser) epoch time: what the page shows then. */
  remainingAtLocal(localMs) {
    return this.remainingAt(localMs + this.offset.offsetMs);
  }

  remaining() {
    return this.remainingAt(this.serverNow());
  }

  get running() {
    return this.anchor !== null && this.anchor.running;
  }

  /** A tick frame from the server. Ticks older than the clock's last event are stale. */
  applyTick(tick) {
    if (tick.sequence_number < this.lastSeq) return;
    this._set({
      turnId: tick.turn_id,
      remaining: tick.remaining_ms,
      at: tick.server_time_ms,
      running: !!tick.running,
      seq: tick.sequence_number,
    });
  }

  /**
   * The clock as a state implies it (see model.js clockOf): {turnId, running,
   * deadline, remaining} or null. `seq` is the entry the state is at.
   */
  applyState(c, seq) {
    this.lastSeq = Math.max(this.lastSeq, seq || 0);
    if (c === null) {
      this._set(null);
      return;
    }
    if (c.running && c.deadline !== null) {
      // Anchored on the deadline: remaining = deadline - serverNow().
      this._set({ turnId: c.turnId, remaining: 0, at: c.deadline, running: true, seq });
    } else {
      this._set({ turnId: c.turnId, remaining: c.remaining, at: this.serverNow(), running: false, seq });
    }
  }

  _set(anchor) {
    const wasRunning = this.running;
    this.anchor = anchor;
    const nowRunning = this.running;
    if (wasRunning && !nowRunning) this.frozenAt = Date.now();
    if (!wasRunning && nowRunning) this.startedAt = Date.now();
    this._emit(); // synchronously: a pause shows in this very task
    this._schedule();
  }

  subscribe(fn) {
    this.listeners.add(fn);
    fn(this.remaining(), this.anchor);
    this._schedule();
    return () => this.listeners.delete(fn);
  }

  _emit() {
    const r = this.remaining();
    for (const fn of this.listeners) fn(r, this.anchor);
  }

  _schedule() {
    if (this.frame || !this.running || this.listeners.size === 0) return;
    const step = () => {
      this.frame = 0;
      if (!this.running) return;
      this._emit();
      this._schedule();
    };
    this.frame = requestAnimationFrame(step);
  }

  stop() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.listeners.clear();
  }
}

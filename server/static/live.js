// One live session in a page: the socket, the state folded from its events,
// the clock, the chain verifier and the feed. The judge, speaker and
// observer views are drawn from this.

import { api, socketUrl } from "./api.js";
import { ChainVerifier } from "./chain.js";
import { ClockOffset, LiveClock } from "./clock.js";
import { CLOCK_EVENTS, applyEvent, clockOf, describe, timestampMs } from "./model.js";
import { CheckpointWatch } from "./record.js";
import { CourtSocket } from "./socket.js";

export class LiveSession {
  /**
   * @param sessionId the session
   * @param hello () => the hello's {as, token, role, speaker}
   */
  constructor(sessionId, hello) {
    this.sessionId = sessionId;
    this.state = null;
    this.you = null;
    this.head = null;
    this.feed = []; // {seq, at, type, text, replayed}
    this.listeners = new Set();
    this.offset = new ClockOffset();
    this.clock = new LiveClock(this.offset);
    this.verify = { valid: true, entries: 0, verifiedThrough: 0, firstInvalidSequence: null, pending: 0 };
    this.verifier = new ChainVerifier({
      sessionId,
      onchange: (r) => {
        this.verify = r;
        this.emit("verify");
      },
    });
    // Signed checkpoints (record v2): each against the published key and the
    // entries that chain v1 accepted, in the same badge.
    this.signed = { signedAt: 0, checked: 0, failure: null, unchecked: null, waiting: 0 };
    this.record = new CheckpointWatch({
      sessionId,
      onchange: (r) => {
        this.signed = r;
        this.emit("verify");
      },
    });
    this.closed = null; // {code, reason} once it gave up
    this.serverError = null;
    this.warnings = [];
    this.seen = {};
    this.socket = new CourtSocket({
      url: socketUrl(sessionId),
      hello,
      offset: this.offset,
      onStatus: (status, detail) => this.emit("status", { status, detail }),
      onWelcome: (w) => this._welcome(w),
      onEvent: (e, info) => this._event(e, info),
      onCheckpoint: (c) => this.record.addCheckpoint(c),
      onTick: (t) => this.clock.applyTick(t),
      onError: (f) => {
        this.serverError = f;
        this.emit("error", f);
      },
      onClosed: (code, reason) => {
        this.closed = { code, reason };
        this.emit("closed", this.closed);
      },
    });
    expose(this);
  }

  start() {
    this.socket.start();
    return this;
  }

  stop() {
    this.socket.leave();
    this.clock.stop();
    if (window.__courtroom.live === this) window.__courtroom.live = null;
  }

  on(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  emit(kind, data) {
    for (const fn of [...this.listeners]) {
      try {
        fn(kind, data);
      } catch (err) {
        console.error(err);
      }
    }
  }

  /** Send a command over the socket (see PROTOCOL.md "From the client"). */
  command(type, fields) {
    window.__courtroom.marks[type] = Date.now();
    return this.socket.send(type, fields);
  }

  _welcome(w) {
    this.state = structuredClone(w.session);
    this.you = w.you;
    this.head = w.head;
    if (w.recovered === false && this.socket.rewoundFrom) {
      this.verify = { ...this.verify, valid: false, firstInvalidSequence: w.head.sequence_number + 1, reason: "the server's log ends before this page's" };
      this.verifier.brokenAt = w.head.sequence_number + 1;
    }
    this.clock.applyState(clockOf(this.state), w.head.sequence_number);
    if (this.socket.connections === 1) this._earlierCheckpoints();
    this.emit("welcome", w);
    this.emit("state");
  }

  /** The checkpoints signed before this page came (frames only reach those present); anonymous
   *  observers may read them where the session admits them. */
  async _earlierCheckpoints() {
    try {
      const { checkpoints } = await api("GET", `/api/session/${encodeURIComponent(this.sessionId)}/checkpoints`);
      for (const c of checkpoints) this.record.addCheckpoint(c);
    } catch {
      /* not allowed or not there: the frames that arrive from now on are checked */
    }
  }

  _event(e, { replayed }) {
    this.seen[e.event_type] = Date.now(); // when each kind of event last arrived (tests read it)
    this.verifier.feed(e).then((ok) => ok && this.record.addEntry(e.hash));
    if (!replayed && this.state) {
      applyEvent(this.state, e);
      if (CLOCK_EVENTS.has(e.event_type)) this.clock.applyState(clockOf(this.state), e.sequence_number);
    }
    const item = {
      seq: e.sequence_number,
      at: timestampMs(e.timestamp),
      type: e.event_type,
      text: this.state ? describe(this.state, e) : e.event_type,
      replayed,
      event: e,
    };
    this.feed.push(item);
    if (!replayed && e.event_type === "TURN_TIME_WARNING") this.warnings.push(e);
    this.emit("event", item);
    if (!replayed) this.emit("state");
  }
}

/** The test hook: window.__courtroom (see tests/browser). */
function expose(live) {
  const hook = window.__courtroom;
  hook.live = live;
}

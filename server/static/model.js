// The session's state in the browser: the welcome snapshot, folded forward
// with each live event. A copy of the server's `evolve`
// (server/rules/session.py and rounds.py) for the fields the pages show, so
// the replay view can also rebuild the state at any point of a log.

/** Epoch ms of a log timestamp ("YYYY-MM-DDTHH:MM:SS.ffffff+00:00"), floored like the server. */
export function timestampMs(ts) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}:\d{2})$/.exec(ts);
  if (!m) return Date.parse(ts);
  const micro = Number((m[7] || "").padEnd(6, "0"));
  let ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) + Math.floor(micro / 1000);
  if (m[8] !== "Z") {
    const sign = m[8][0] === "-" ? -1 : 1;
    ms -= sign * (Number(m[8].slice(1, 3)) * 60 + Number(m[8].slice(4, 6))) * 60000;
  }
  return ms;
}

export function emptyState(sessionId) {
  return {
    session_id: sessionId,
    status: "pending",
    assignment_id: null,
    created_by: null,
    created_at_ms: 0,
    started_at_ms: null,
    ended_at_ms: null,
    paused_at_ms: null,
    allow_anonymous_observers: true,
    title: "",
    participants: {},
    expected: [],
    observers_now: 0,
    observers_total: 0,
    rounds: {},
  };
}

export function activeRound(s) {
  for (const r of Object.values(s.rounds || {})) if (r.status === "ACTIVE") return r;
  return null;
}

export function turnOf(s, turnId) {
  for (const r of Object.values(s.rounds || {})) {
    for (const t of r.turns) if (t.turn_id === turnId) return [r, t];
  }
  return [null, null];
}

/** The current turn of the active round, or null. */
export function currentTurn(s) {
  const r = activeRound(s);
  if (!r || !r.current_turn_id) return null;
  return r.turns.find((t) => t.turn_id === r.current_turn_id) || null;
}

/**
 * What the clock shows in state `s` at server time `now`: {turnId, running,
 * deadline, remaining, status, allowed} or null when no turn is current.
 */
export function clockOf(s, now = null) {
  const t = currentTurn(s);
  if (!t) return null;
  const running = t.status === "running" && t.deadline_ms !== null && s.status === "active";
  let remaining = t.remaining_ms;
  if (t.status === "expired") remaining = 0;
  else if (running && now !== null) remaining = Math.max(0, t.deadline_ms - now);
  return {
    turnId: t.turn_id,
    running,
    deadline: running ? t.deadline_ms : null,
    remaining,
    status: t.status,
    allowed: t.allowed_ms,
    turn: t,
  };
}

function turnClosed(t) {
  return ["submitted", "auto_submitted", "force_submitted"].includes(t.status);
}

/** Apply one committed event to `s` in place (the server's evolve). */
export function applyEvent(s, e) {
  const d = e.details || {};
  const at = timestampMs(e.timestamp);
  const a = e.actor_id;
  const find = (id) => turnOf(s, id)[1];
  switch (e.event_type) {
    case "SESSION_CREATED": {
      const fresh = emptyState(s.session_id || e.session_id);
      Object.assign(fresh, {
        assignment_id: d.assignment_id ?? null,
        created_at_ms: d.created_at_ms ?? at,
        title: d.title ?? "",
        allow_anonymous_observers: d.allow_anonymous_observers ?? true,
        expected: d.expected || [],
        created_by: a,
      });
      for (const k of Object.keys(s)) delete s[k];
      Object.assign(s, fresh);
      break;
    }
    case "SESSION_STARTED":
      s.status = "active";
      s.started_at_ms = at;
      break;
    case "SESSION_PAUSED":
      s.status = "paused";
      s.paused_at_ms = at;
      if (d.turn_id) {
        const t = find(d.turn_id);
        if (t) {
          t.remaining_ms = d.remaining_ms;
          t.deadline_ms = null;
        }
      }
      break;
    case "SESSION_RESUMED":
      s.status = "active";
      s.paused_at_ms = null;
      if (d.turn_id) {
        const t = find(d.turn_id);
        if (t) t.deadline_ms = d.deadline_ms;
      }
      break;
    case "SESSION_COMPLETED":
      s.status = "completed";
      s.ended_at_ms = at;
      s.paused_at_ms = null;
      break;
    case "PARTICIPANT_JOINED":
      s.participants[a] = {
        user_id: a,
        role: d.role,
        speaker: d.speaker ?? null,
        name: d.name || "",
        status: "connected",
        connection_count: 1,
        joined_at_ms: at,
        left_at_ms: null,
        grace_until_ms: null,
      };
      break;
    case "PARTICIPANT_RECONNECTED": {
      const p = s.participants[a];
      if (p) {
        p.status = "connected";
        p.connection_count = d.connection_count ?? p.connection_count + 1;
        p.left_at_ms = null;
        p.grace_until_ms = null;
      }
      break;
    }
    case "PARTICIPANT_RECONNECTING": {
      // The last connection dropped: the seat is kept until grace_until_ms.
      const p = s.participants[a];
      if (p) {
        p.status = "reconnecting";
        p.grace_until_ms = d.grace_until_ms ?? null;
      }
      break;
    }
    case "PARTICIPANT_DISCONNECTED":
    case "PARTICIPANT_LEFT": {
      const p = s.participants[a];
      if (p) {
        p.status = "disconnected";
        p.left_at_ms = at;
        p.grace_until_ms = null;
      }
      break;
    }
    case "OBSERVER_JOINED": {
      // Arrivals are batched: one entry may bring many observers.
      const n = d.count ?? 1;
      s.observers_now += n;
      s.observers_total += n;
      break;
    }
    case "OBSERVER_LEFT":
      s.observers_now = Math.max(0, s.observers_now - (d.count ?? 1));
      break;
    case "ROUND_CREATED":
      s.rounds[d.round_id] = {
        round_id: d.round_id,
        round_index: d.round_index,
        round_type: d.round_type,
        format_name: d.format,
        status: "PENDING",
        current_turn_id: null,
        started_at_ms: null,
        ended_at_ms: null,
        turns: d.turns.map((t) => ({
          turn_id: t.turn_id,
          order: t.order,
          participant_id: t.participant_id,
          side: t.side,
          speaker: t.speaker,
          kind: t.kind,
          allowed_ms: t.allowed_ms,
          warnings_ms: [...t.warnings_ms],
          status: "pending",
          remaining_ms: t.allowed_ms,
          deadline_ms: null,
          started_at_ms: null,
          ended_at_ms: null,
          expired_at_ms: null,
          warnings_fired: [],
          late: false,
          word_count: null,
        })),
      };
      break;
    case "ROUND_STARTED": {
      const r = s.rounds[d.round_id];
      if (r) {
        r.status = "ACTIVE";
        r.current_turn_id = d.current_turn_id;
        r.started_at_ms = d.started_at_ms ?? at;
      }
      break;
    }
    case "ROUND_ADVANCED": {
      const r = s.rounds[d.round_id];
      if (r) {
        const prev = r.turns.find((t) => t.turn_id === d.from_turn_id);
        if (prev && (prev.status === "running" || prev.status === "expired")) prev.status = "closed";
        r.current_turn_id = d.current_turn_id;
      }
      break;
    }
    case "ROUND_COMPLETED":
    case "ROUND_ABORTED": {
      const r = s.rounds[d.round_id];
      if (r) {
        const t = r.turns.find((x) => x.turn_id === r.current_turn_id);
        if (t && !turnClosed(t) && t.status !== "expired") {
          if (t.status === "running" && "remaining_ms" in d) t.remaining_ms = d.remaining_ms;
          t.deadline_ms = null;
          if (t.status === "running") t.status = "closed";
        }
        r.status = e.event_type === "ROUND_COMPLETED" ? "COMPLETED" : "ABORTED";
        r.current_turn_id = null;
        r.ended_at_ms = d.ended_at_ms ?? at;
      }
      break;
    }
    case "TURN_STARTED": {
      const t = find(d.turn_id);
      if (t) {
        t.status = "running";
        t.started_at_ms = d.started_at_ms;
        t.deadline_ms = d.deadline_ms;
      }
      break;
    }
    case "TURN_TIME_WARNING": {
      const t = find(d.turn_id);
      if (t) t.warnings_fired.push(d.threshold_ms);
      break;
    }
    case "TURN_TIME_EXPIRED": {
      const t = find(d.turn_id);
      if (t) {
        t.status = "expired";
        t.remaining_ms = 0;
        t.deadline_ms = null;
        t.expired_at_ms = d.expired_at_ms;
      }
      break;
    }
    case "TURN_SUBMITTED":
    case "TURN_AUTO_SUBMITTED":
    case "TURN_FORCE_SUBMITTED": {
      const t = find(d.turn_id);
      if (t) {
        const when = d.submitted_at_ms ?? at;
        if (t.deadline_ms !== null) t.remaining_ms = Math.max(0, t.deadline_ms - when);
        t.deadline_ms = null;
        t.status = { TURN_SUBMITTED: "submitted", TURN_AUTO_SUBMITTED: "auto_submitted", TURN_FORCE_SUBMITTED: "force_submitted" }[e.event_type];
        t.ended_at_ms = when;
        t.word_count = d.word_count ?? null;
        t.late = !!d.late;
      }
      break;
    }
    default:
      break; // custom events (notes) change no state
  }
}

const KNOWN_TYPES = Object.fromEntries(
  [
    "PARTICIPANT_JOINED",
    "PARTICIPANT_RECONNECTED",
    "PARTICIPANT_RECONNECTING",
    "PARTICIPANT_DISCONNECTED",
    "PARTICIPANT_LEFT",
    "OBSERVER_JOINED",
    "OBSERVER_LEFT",
    "ROUND_ADVANCED",
    "ROUND_COMPLETED",
    "TURN_STARTED",
    "TURN_TIME_WARNING",
    "TURN_TIME_EXPIRED",
    "TURN_SUBMITTED",
    "TURN_AUTO_SUBMITTED",
  ].map((t) => [t, true]),
);

/** Events after which the clock may show something else. */
export const CLOCK_EVENTS = new Set([
  "SESSION_STARTED",
  "SESSION_PAUSED",
  "SESSION_RESUMED",
  "SESSION_COMPLETED",
  "ROUND_STARTED",
  "ROUND_ADVANCED",
  "ROUND_COMPLETED",
  "ROUND_ABORTED",
  "TURN_STARTED",
  "TURN_TIME_EXPIRED",
  "TURN_SUBMITTED",
  "TURN_AUTO_SUBMITTED",
  "TURN_FORCE_SUBMITTED",
]);

// --- words ----------------------------------------------------------------------

export function seatLabel(role, speaker) {
  if (!role) return "";
  const r = role[0].toUpperCase() + role.slice(1);
  return speaker ? `${r} #${speaker}` : r;
}

export function personName(s, userId) {
  if (userId === null || userId === undefined) return "the server";
  const p = s.participants[userId];
  if (p && p.name) return p.name;
  const x = (s.expected || []).find((e) => e.user_id === userId);
  if (x && x.name) return x.name;
  return `user ${userId}`;
}

function mmss(ms) {
  const total = Math.max(0, Math.ceil((ms || 0) / 1000));
  return `${Math.floor(total / 60)}:${String(total % 60).padStart(2, "0")}`;
}

function turnWho(s, turnId) {
  const [, t] = turnOf(s, turnId);
  if (!t) return "the speaker";
  return `${personName(s, t.participant_id)} (${seatLabel(t.side, t.speaker)}${t.kind !== "main" ? ", " + t.kind : ""})`;
}

// Events only a judge, faculty or admin account can cause: an actor whose
// name this page does not know is "the bench".
const BENCH_EVENTS = new Set([
  "SESSION_CREATED",
  "SESSION_STARTED",
  "SESSION_PAUSED",
  "SESSION_RESUMED",
  "SESSION_COMPLETED",
  "ROUND_CREATED",
  "ROUND_STARTED",
  "ROUND_ABORTED",
  "TURN_FORCE_SUBMITTED",
]);

function known(s, userId) {
  if (userId === null || userId === undefined) return null;
  const p = s.participants[userId];
  if (p && p.name) return p.name;
  const x = (s.expected || []).find((e) => e.user_id === userId);
  return x && x.name ? x.name : null;
}

/** One line of the feed for event `e`, read against the state `s` at that point. */
export function describe(s, e) {
  const line = describeLine(s, e);
  return line.charAt(0).toUpperCase() + line.slice(1);
}

function describeLine(s, e) {
  const d = e.details || {};
  const bench = BENCH_EVENTS.has(e.event_type) || !(e.event_type in KNOWN_TYPES);
  const who = known(s, e.actor_id) || (e.actor_id === null ? "the server" : bench ? "the bench" : `user ${e.actor_id}`);
  switch (e.event_type) {
    case "SESSION_CREATED":
      return `Session created${d.title ? `: ${d.title}` : ""}`;
    case "SESSION_STARTED":
      return `${who} started the session`;
    case "SESSION_PAUSED":
      return `${who} paused the session${d.turn_id ? ` with ${mmss(d.remaining_ms)} left` : ""}`;
    case "SESSION_RESUMED":
      return `${who} resumed the session${d.turn_id ? ` with ${mmss(d.remaining_ms)} left` : ""}`;
    case "SESSION_COMPLETED":
      return `${who} completed the session`;
    case "PARTICIPANT_JOINED":
      return `${d.name || who} joined as ${seatLabel(d.role, d.speaker)}`;
    case "PARTICIPANT_RECONNECTED":
      return `${who} reconnected`;
    case "PARTICIPANT_RECONNECTING":
      return `${who} lost the connection; the seat is kept${d.grace_until_ms ? ` until ${new Date(d.grace_until_ms).toLocaleTimeString([], { hour12: false })}` : ""}`;
    case "PARTICIPANT_DISCONNECTED":
      return `${who} is disconnected`;
    case "PARTICIPANT_LEFT":
      return `${who} left`;
    case "OBSERVER_JOINED": {
      const n = d.count ?? 1;
      if (n > 1) return `${n} observers joined`;
      return d.anonymous ? "An observer joined" : `${who} is observing`;
    }
    case "OBSERVER_LEFT": {
      const n = d.count ?? 1;
      return n > 1 ? `${n} observers left` : "An observer left";
    }
    case "ROUND_CREATED":
      return `Round ${d.round_index} created (${d.format}, ${d.turns.length} turn${d.turns.length === 1 ? "" : "s"})`;
    case "ROUND_STARTED":
      return `Round started: ${turnWho(s, d.current_turn_id)} is up`;
    case "ROUND_ADVANCED":
      return `Next: ${turnWho(s, d.current_turn_id)}`;
    case "ROUND_COMPLETED":
      return "Round completed";
    case "ROUND_ABORTED":
      return `Round aborted: ${d.reason}`;
    case "TURN_STARTED":
      return `${turnWho(s, d.turn_id)} started speaking (${mmss(d.allowed_ms)})`;
    case "TURN_TIME_WARNING":
      return `Time warning: ${mmss(d.threshold_ms)} left for ${turnWho(s, d.turn_id)}`;
    case "TURN_TIME_EXPIRED":
      return `Time expired for ${turnWho(s, d.turn_id)}`;
    case "TURN_SUBMITTED":
      return `${turnWho(s, d.turn_id)} submitted (${d.word_count} words${d.late ? ", late" : ""})`;
    case "TURN_AUTO_SUBMITTED":
      return `${turnWho(s, d.turn_id)} was submitted automatically`;
    case "TURN_FORCE_SUBMITTED":
      return `${who} force-submitted the turn of ${turnWho(s, d.turn_id)}: ${d.reason}`;
    default: {
      const text = typeof d.text === "string" ? d.text : Object.keys(d).length ? JSON.stringify(d) : "";
      return `${who} logged ${e.event_type}${text ? `: ${text}` : ""}`;
    }
  }
}

// Judge console: run the session (start, pause, resume, complete), create and
// start rounds, start or force-submit a turn, abort a round, log a note;
// participants with live presence; the event feed.

import { api, auth } from "../api.js";
import { fill, h, shortcuts } from "../dom.js";
import { activeRound, currentTurn, personName, seatLabel } from "../model.js";
import { formatMs } from "../clock.js";
import { MISSING, disposer, openLive, refuseInto, showRefusal, sessionRecord, shareLinks, shortcutHelp } from "./common.js";
import { clockPanel, feedList, liveHeader, messageLine, participantsPanel } from "./widgets.js";

export function mount(root, { id }) {
  const parts = [];
  const dispose = disposer(parts);
  const msg = messageLine();
  let live = null;

  const run = async (label, fn) => {
    msg.clear();
    try {
      await fn();
      msg.ok(`${label}: done.`);
    } catch (err) {
      msg.error(`${label}: ${err.message}`);
    }
  };
  const cmd = (label, type, fields) => run(label, () => live.command(type, fields));

  // --- session controls ---
  const bStart = h("button", { type: "button", id: "btn-start", class: "primary", onclick: () => cmd("Start", "session.start") }, "Start session");
  const bPause = h("button", { type: "button", id: "btn-pause", onclick: () => cmd("Pause", "session.pause") }, "Pause");
  const bResume = h("button", { type: "button", id: "btn-resume", class: "primary", onclick: () => cmd("Resume", "session.resume") }, "Resume");
  const confirmBox = h(
    "div",
    { class: "confirm", hidden: true, id: "complete-confirm", role: "group", "aria-label": "Confirm completing the session" },
    h("span", { id: "complete-question" }, "Complete the session? Its record closes for good."),
    h(
      "button",
      {
        type: "button",
        class: "danger",
        id: "btn-complete-yes",
        onclick: () => {
          confirmBox.hidden = true;
          cmd("Complete", "session.complete");
        },
      },
      "Yes, complete",
    ),
    h(
      "button",
      {
        type: "button",
        onclick: () => {
          confirmBox.hidden = true;
          bComplete.focus();
        },
      },
      "Cancel",
    ),
  );
  const bComplete = h(
    "button",
    {
      type: "button",
      id: "btn-complete",
      class: "danger",
      onclick: () => {
        confirmBox.querySelector("#complete-question").textContent = completeQuestion(live.state);
        confirmBox.hidden = false;
        confirmBox.querySelector("button").focus();
      },
    },
    "Complete…",
  );
  // A checkpoint on demand: the log as it is now, signed (docs/protocol.md section 4).
  const bCheckpoint = h(
    "button",
    {
      type: "button",
      id: "btn-checkpoint",
      title: "Sign the log as it stands now: a checkpoint anyone can verify offline",
      onclick: async () => {
        msg.clear();
        try {
          const cp = await api("POST", `/api/session/${encodeURIComponent(id)}/checkpoint`);
          msg.ok(`Checkpoint signed at #${cp.tree_size} (key ${cp.key_id}).`);
        } catch (err) {
          msg.error(`Checkpoint: ${err.message}`);
        }
      },
    },
    "Sign checkpoint",
  );
  const controls = h(
    "section",
    { class: "panel", "aria-labelledby": "controls-h" },
    h("h2", { id: "controls-h" }, "Session"),
    h("div", { class: "actions" }, bStart, bPause, bResume, bComplete, bCheckpoint),
    confirmBox,
  );

  // --- the current turn ---
  const turnLine = h("p", { id: "turn-line" });
  const bTurnStart = h("button", { type: "button", id: "btn-turn-start", onclick: () => cmd("Start turn", "turn.start", { turn_id: currentTurn(live.state).turn_id }) }, "Start the speaker's turn");
  const fsReason = h("input", { id: "fs-reason", maxlength: "500", placeholder: "e.g. speaker lost the connection" });
  const fsText = h("textarea", { id: "fs-transcript", rows: "2", maxlength: "50000" });
  const fsForm = h(
    "form",
    { class: "subform", id: "force-form" },
    h("div", { class: "field" }, h("label", { for: "fs-reason" }, "Reason for force submit"), fsReason),
    h("div", { class: "field" }, h("label", { for: "fs-transcript" }, "Transcript (optional)"), fsText),
    h("button", { type: "submit", id: "btn-force", class: "danger" }, "Force submit"),
  );
  fsForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = currentTurn(live.state);
    if (!t) return;
    cmd("Force submit", "turn.force_submit", { turn_id: t.turn_id, transcript: fsText.value, reason: fsReason.value.trim() || "forced by the judge" }).then(() => {
      fsText.value = "";
    });
  });
  const turnPanel = h("section", { class: "panel", "aria-labelledby": "turn-h" }, h("h2", { id: "turn-h" }, "Current turn"), turnLine, h("div", { class: "actions" }, bTurnStart), fsForm);

  // --- rounds ---
  const roundList = h("ol", { class: "rounds", id: "rounds" });
  const fmt = h("select", { id: "round-format" }, h("option", { value: "custom" }, "One turn per speaker present"));
  const secs = h("input", { id: "round-seconds", type: "number", min: "1", max: "86400", value: "300", inputmode: "numeric" });
  const descriptions = { custom: "Each petitioner and respondent present speaks once, petitioners first, for the seconds given." };
  const fmtHint = h("p", { class: "muted small", id: "round-format-hint" }, descriptions.custom);
  fmt.setAttribute("aria-describedby", "round-format-hint");
  fmt.addEventListener("change", () => {
    fmtHint.textContent = descriptions[fmt.value] || "";
  });
  const rtype = h("select", { id: "round-type" }, ["PETITIONER_MAIN", "RESPONDENT_MAIN", "REBUTTAL", "OTHER"].map((t) => h("option", { value: t }, t.replace("_", " ").toLowerCase())));
  const bCreate = h("button", { type: "submit", name: "create" }, "Create round");
  const bCreateStart = h("button", { type: "submit", name: "start", class: "primary", id: "btn-create-start" }, "Create and start");
  const roundForm = h(
    "form",
    { class: "subform", id: "round-form", "aria-labelledby": "round-form-h" },
    h("h3", { id: "round-form-h" }, "New round"),
    h(
      "div",
      { class: "row" },
      h("div", { class: "field" }, h("label", { for: "round-format" }, "Format"), fmt),
      h("div", { class: "field" }, h("label", { for: "round-seconds" }, "Seconds a turn"), secs),
      h("div", { class: "field" }, h("label", { for: "round-type" }, "Round type"), rtype),
    ),
    fmtHint,
    h("div", { class: "actions" }, bCreate, bCreateStart),
  );
  roundForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const andStart = ev.submitter && ev.submitter.name === "start";
    run(andStart ? "Create and start round" : "Create round", async () => {
      const body = { session_id: id, round_type: rtype.value };
      const seconds = Number(secs.value) || 300;
      if (fmt.value === "custom") {
        const order = { petitioner: 0, respondent: 1 };
        const speakers = Object.values(live.state.participants)
          .filter((p) => p.role === "petitioner" || p.role === "respondent")
          .sort((a, b) => (a.speaker || 1) - (b.speaker || 1) || order[a.role] - order[b.role]);
        if (speakers.length === 0) throw new Error("no speakers have joined yet");
        body.turns = speakers.map((p) => ({ participant_id: p.user_id, allowed_seconds: seconds }));
      } else {
        body.format = fmt.value;
        body.default_turn_seconds = seconds;
      }
      const r = await api("POST", "/api/classroom/rounds", { json: body });
      if (andStart) await live.command("round.start", { round_id: r.id });
    });
  });
  const abortReason = h("input", { id: "abort-reason", maxlength: "500", value: "aborted by the judge" });
  const roundsPanel = h(
    "section",
    { class: "panel", "aria-labelledby": "rounds-h" },
    h("h2", { id: "rounds-h" }, "Rounds"),
    roundList,
    h("div", { class: "field" }, h("label", { for: "abort-reason" }, "Reason given when a round is aborted"), abortReason),
    roundForm,
  );

  // --- notes ---
  const noteType = h("input", { id: "note-type", value: "NOTE", pattern: "[A-Z0-9_]{1,50}", maxlength: "50", autocapitalize: "characters", spellcheck: "false" });
  const noteText = h("input", { id: "note-text", maxlength: "2000", placeholder: "What happened" });
  const noteForm = h(
    "form",
    { class: "panel", id: "note-form", "aria-labelledby": "note-h" },
    h("h2", { id: "note-h" }, "Log a note"),
    h("div", { class: "row" }, h("div", { class: "field narrow-field" }, h("label", { for: "note-type" }, "Event type"), noteType), h("div", { class: "field grow" }, h("label", { for: "note-text" }, "Note"), noteText)),
    h("button", { type: "submit", id: "btn-note" }, "Log it"),
  );
  noteForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = noteText.value.trim();
    if (!text) {
      noteText.focus();
      return;
    }
    cmd("Log", "log", { event_type: noteType.value.trim().toUpperCase() || "NOTE", details: { text } }).then(() => {
      noteText.value = "";
    });
  });

  const shell = h("div", { class: "view judge" }, h("p", { class: "muted" }, "Connecting…"));
  root.append(shell);

  const renderRounds = () => {
    const s = live.state;
    const active = activeRound(s);
    fill(
      roundList,
      Object.values(s.rounds)
        .sort((a, b) => a.round_index - b.round_index)
        .map((r) =>
          h(
            "li",
            { class: "round", "data-round-id": r.round_id, "data-status": r.status },
            h("strong", {}, `Round ${r.round_index}`),
            ` · ${r.format_name} · `,
            h("span", { class: "chip", "data-status": r.status.toLowerCase() }, r.status.toLowerCase()),
            h(
              "ol",
              { class: "turns" },
              r.turns.map((t) =>
                h("li", { class: t.turn_id === r.current_turn_id ? "current" : "", "data-turn-status": t.status }, `${personName(s, t.participant_id)} · ${seatLabel(t.side, t.speaker)}${t.kind !== "main" ? ` (${t.kind})` : ""} · ${formatMs(t.allowed_ms)} · ${turnStatus(s, t)}`),
              ),
            ),
            h(
              "div",
              { class: "actions" },
              r.status === "PENDING" ? h("button", { type: "button", class: "small", disabled: s.status !== "active" || !!active, onclick: () => cmd("Start round", "round.start", { round_id: r.round_id }) }, `Start round ${r.round_index}`) : null,
              r.status === "PENDING" || r.status === "ACTIVE"
                ? h(
                    "button",
                    {
                      type: "button",
                      class: "small danger",
                      onclick: () => cmd("Abort round", "round.abort", { round_id: r.round_id, reason: abortReason.value.trim() || "aborted by the judge" }),
                    },
                    `Abort round ${r.round_index}`,
                  )
                : null,
            ),
          ),
        ),
    );
    if (roundList.childElementCount === 0) roundList.append(h("li", { class: "muted" }, "No rounds yet."));
  };

  const renderControls = () => {
    const s = live.state;
    if (!s) return;
    const st = s.status;
    bStart.disabled = st !== "pending";
    bPause.disabled = st !== "active";
    bResume.disabled = st !== "paused";
    bComplete.disabled = st === "completed" || st === "pending";
    const t = currentTurn(s);
    const tStatus = t ? turnStatus(s, t) : "";
    turnLine.textContent = t ? `${personName(s, t.participant_id)} · ${seatLabel(t.side, t.speaker)} · ${tStatus}` : "No turn is current.";
    turnLine.dataset.turnStatus = tStatus;
    bTurnStart.disabled = !t || t.status !== "pending" || st !== "active";
    fsForm.querySelector("button").disabled = !t || ["submitted", "auto_submitted", "force_submitted", "closed"].includes(t.status);
    for (const x of [bCreate, bCreateStart]) x.disabled = st === "completed";
    noteForm.querySelector("button").disabled = st === "completed";
    renderRounds();
  };

  const togglePause = () => {
    if (!live || !live.state) return;
    if (live.state.status === "active") cmd("Pause", "session.pause");
    else if (live.state.status === "paused") cmd("Resume", "session.resume");
  };
  parts.push(
    shortcuts({
      p: togglePause,
      s: () => !bStart.disabled && bStart.click(),
      n: () => noteText.focus(),
      r: () => fmt.focus(),
    }),
  );

  (async () => {
    const rec = await sessionRecord(id);
    if (rec === MISSING) {
      showRefusal(root, id, "missing");
      return;
    }
    const me = auth.get();
    const mine = rec && me ? rec.state.participants[me.user_id] : null;
    const role = mine && (mine.role === "judge" || mine.role === "moderator") ? mine.role : "judge";
    const fields = mine && role !== mine.role ? { as: "observer" } : { as: "participant", role };
    live = openLive(id, fields);
    parts.push(() => live.stop());
    parts.push(refuseInto(root, live, id));
    const head = liveHeader(live, "Judge console");
    const clock = clockPanel(live);
    const people = participantsPanel(live);
    const feed = feedList(live);
    parts.push(head, clock, people, feed);
    fill(
      shell,
      head.node,
      msg.node,
      h("div", { class: "grid two" }, h("div", { class: "stack" }, clock.node, controls, turnPanel, roundsPanel, noteForm), h("div", { class: "stack" }, people.node, feed.node)),
      shareLinks(id),
      shortcutHelp([
        ["p", "pause or resume"],
        ["s", "start the session"],
        ["n", "write a note"],
        ["r", "new round: pick the format"],
      ]),
    );
    parts.push(live.on((kind) => (kind === "state" || kind === "welcome") && renderControls()));
    parts.push(
      live.on((kind, data) => {
        if (kind === "error") msg.error(data.message);
      }),
    );
    try {
      const f = await api("GET", "/api/classroom/formats");
      for (const x of f.formats) {
        descriptions[x.name] = x.description;
        fmt.append(h("option", { value: x.name }, x.name.replace(/_/g, " ")));
      }
    } catch {
      /* the round engine may be off: custom rounds still work */
    }
  })();

  return { dispose };
}

/** A turn's state as the judge should read it: a running turn of a paused session is paused. */
export function turnStatus(s, t) {
  return s.status === "paused" && t.status === "running" ? "paused" : t.status;
}

/** The completion question, saying which round is aborted and whose turn ends. */
export function completeQuestion(s) {
  const r = s && activeRound(s);
  if (!r) return "Complete the session? Its record closes for good.";
  const t = currentTurn(s);
  const speaking = t && (t.status === "running" || t.status === "pending") && r.turns.some((x) => x.turn_id === t.turn_id);
  const whose = speaking ? ` and ends ${personName(s, t.participant_id)}'s turn (${seatLabel(t.side, t.speaker)}${t.status === "pending" ? ", not started yet" : ""})` : "";
  return `Complete the session? Round ${r.round_index} is still running: completing aborts it${whose}. The record then closes for good.`;
}

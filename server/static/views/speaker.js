// Speaker view: a large clock, whose turn it is, time warnings, start my
// turn, submit my transcript.

import { auth } from "../api.js";
import { formatMs, spokenMs } from "../clock.js";
import { announce, fill, h, shortcuts } from "../dom.js";
import { currentTurn, personName, seatLabel, turnOf } from "../model.js";
import { MISSING, disposer, openLive, refuseInto, showRefusal, sessionRecord, shareLinks, shortcutHelp } from "./common.js";
import { clockPanel, feedList, liveHeader, messageLine } from "./widgets.js";

function seatPicker(rec, onPick) {
  const taken = new Set(
    Object.values(rec ? rec.state.participants : {})
      .filter((p) => p.role === "petitioner" || p.role === "respondent")
      .map((p) => `${p.role}:${p.speaker}`),
  );
  const seats = [];
  for (const side of ["petitioner", "respondent"]) for (const n of [1, 2]) seats.push([side, n]);
  const free = seats.find(([s, n]) => !taken.has(`${s}:${n}`));
  const form = h(
    "form",
    { class: "card narrow", id: "seat-form", "aria-labelledby": "seat-h" },
    h("h1", { id: "seat-h" }, "Take your seat"),
    h("p", { class: "muted" }, rec ? rec.title || "" : ""),
    h(
      "fieldset",
      {},
      h("legend", {}, "You speak as"),
      seats.map(([side, n]) => {
        const idAttr = `seat-${side}-${n}`;
        return h(
          "div",
          { class: "check" },
          h("input", { type: "radio", name: "seat", id: idAttr, value: `${side}:${n}`, disabled: taken.has(`${side}:${n}`), checked: !!free && free[0] === side && free[1] === n }),
          h("label", { for: idAttr }, `${seatLabel(side, n)}${taken.has(`${side}:${n}`) ? " (taken)" : ""}`),
        );
      }),
    ),
    h("button", { type: "submit", class: "primary" }, "Join the session"),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const v = new FormData(form).get("seat");
    if (!v) return;
    const [side, n] = String(v).split(":");
    onPick(side, Number(n));
  });
  return form;
}

export function mount(root, { id, query }) {
  const parts = [];
  const dispose = disposer(parts);
  const shell = h("div", { class: "view speaker" }, h("p", { class: "muted" }, "Loading…"));
  root.append(shell);

  const connect = (role, speaker) => {
    const live = openLive(id, { as: "participant", role, speaker });
    parts.push(() => live.stop());
    parts.push(refuseInto(root, live, id));
    const me = auth.get().user_id;
    const msg = messageLine();
    const head = liveHeader(live, "Speaker");
    const clock = clockPanel(live, { big: true });
    const feed = feedList(live, { limit: 50 });
    parts.push(head, clock, feed);

    const yourTurn = h("p", { class: "your-turn", id: "your-turn", "aria-live": "polite" });
    const warning = h("p", { class: "warning", id: "time-warning", role: "alert", hidden: true });
    const bStart = h("button", { type: "button", class: "primary big-button", id: "btn-my-turn" }, "Start my turn");
    const text = h("textarea", { id: "transcript", rows: "6", maxlength: "50000", "aria-describedby": "word-count" });
    const words = h("p", { class: "muted small", id: "word-count" }, "0 words");
    const bSubmit = h("button", { type: "submit", class: "primary", id: "btn-submit" }, "Submit transcript");
    const form = h(
      "form",
      { class: "panel", id: "submit-form", "aria-labelledby": "submit-h" },
      h("h2", { id: "submit-h" }, "Your transcript"),
      h("div", { class: "field" }, h("label", { for: "transcript" }, "Transcript or speaking notes (submitted with your turn)"), text),
      words,
      bSubmit,
    );
    const myTurn = () => {
      const t = live.state && currentTurn(live.state);
      return t && t.participant_id === me ? t : null;
    };
    const start = async () => {
      const t = myTurn();
      if (!t) return;
      msg.clear();
      try {
        await live.command("turn.start", { turn_id: t.turn_id });
        text.focus();
      } catch (err) {
        msg.error(`Could not start: ${err.message}`);
      }
    };
    const submit = async () => {
      const t = myTurn();
      if (!t) return;
      msg.clear();
      try {
        await live.command("turn.submit", { turn_id: t.turn_id, transcript: text.value });
        msg.ok("Submitted. Thank you.");
        text.value = "";
        words.textContent = "0 words";
      } catch (err) {
        msg.error(`Could not submit: ${err.message}`);
      }
    };
    bStart.addEventListener("click", start);
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      submit();
    });
    text.addEventListener("input", () => {
      const n = text.value.trim() ? text.value.trim().split(/\s+/).length : 0;
      words.textContent = `${n} word${n === 1 ? "" : "s"}`;
    });
    text.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
        ev.preventDefault();
        submit();
      }
    });
    parts.push(shortcuts({ t: () => !bStart.disabled && start() }));

    const render = () => {
      const s = live.state;
      if (!s) return;
      const t = currentTurn(s);
      const mine = t && t.participant_id === me;
      const p = s.participants[me];
      if (!t) yourTurn.textContent = p ? `You are ${seatLabel(p.role, p.speaker)}. No turn is on the clock.` : "";
      else if (mine && t.status === "pending") yourTurn.textContent = "It's your turn. Start when you are ready.";
      else if (mine) yourTurn.textContent = t.status === "running" ? "You are speaking." : `Your turn: ${t.status}.`;
      else yourTurn.textContent = `${personName(s, t.participant_id)} has the floor.`;
      yourTurn.dataset.mine = mine ? "true" : "false";
      bStart.disabled = !mine || t.status !== "pending" || s.status !== "active";
      bSubmit.disabled = !mine || !["running", "expired"].includes(t.status);
      if (!t || t.status !== "running") warning.hidden = warning.dataset.turnId !== (t && t.turn_id) || !t;
    };
    parts.push(live.on((kind) => (kind === "state" || kind === "welcome") && render()));
    parts.push(
      live.on((kind, f) => {
        if (kind === "error") msg.error(f.message);
        if (kind !== "event" || f.replayed) return;
        const e = f.event;
        if (e.event_type === "TURN_TIME_WARNING") {
          const [, t] = turnOf(live.state, e.details.turn_id);
          const whose = t && t.participant_id === me ? "You have" : `${personName(live.state, t ? t.participant_id : null)} has`;
          warning.hidden = false;
          warning.dataset.turnId = e.details.turn_id;
          warning.dataset.thresholdMs = String(e.details.threshold_ms);
          warning.textContent = `${whose} ${formatMs(e.details.threshold_ms)} left`;
          announce(`${whose} ${spokenMs(e.details.threshold_ms)} left`);
        } else if (e.event_type === "TURN_TIME_EXPIRED") {
          warning.hidden = false;
          warning.dataset.turnId = e.details.turn_id;
          warning.textContent = "Time is up";
        } else if (e.event_type === "ROUND_ADVANCED" || e.event_type === "ROUND_COMPLETED" || e.event_type === "ROUND_ABORTED") {
          warning.hidden = true;
        }
      }),
    );

    fill(
      shell,
      head.node,
      msg.node,
      h("div", { class: "grid two" }, h("div", { class: "stack" }, clock.node, warning, yourTurn, h("div", { class: "actions" }, bStart), form), h("div", { class: "stack" }, feed.node)),
      shareLinks(id),
      shortcutHelp([
        ["t", "start my turn"],
        ["Ctrl + Enter", "submit the transcript (in the text box)"],
      ]),
    );
  };

  (async () => {
    const rec = await sessionRecord(id);
    if (rec === MISSING) {
      showRefusal(root, id, "missing");
      return;
    }
    const me = auth.get();
    const mine = rec && me ? rec.state.participants[me.user_id] : null;
    const qRole = query.get("role");
    const qSpeaker = Number(query.get("speaker")) || null;
    if (mine && (mine.role === "petitioner" || mine.role === "respondent")) connect(mine.role, mine.speaker);
    else if (qRole === "petitioner" || qRole === "respondent") connect(qRole, qSpeaker || 1);
    else if (mine) fill(shell, h("p", { class: "message error", role: "alert" }, `You are in this session as ${seatLabel(mine.role, mine.speaker)}, not as a speaker.`), shareLinks(id));
    else fill(shell, seatPicker(rec, connect));
  })();

  return { dispose };
}

// Scheduling in the browser: a tournament's schedule versions (draft or
// finalized; clone a finalized one to edit it), auto-assign, the grid of
// courts × slots where a match is moved by drag-and-drop or by keyboard,
// the conflict report, finalize, and the live sessions of the matches. Every
// move is the server's to validate: a refused move shows its violations in
// plain words and the grid is redrawn from the server, so nothing changes.
//
// The grid is a WAI-ARIA grid with a roving tabindex: Tab enters it once (at
// the cell last visited), arrow keys, Home and End move between cells. Enter
// or Space on a match picks it up; the arrows then choose the slot, Enter or
// Space drops it there (the server decides), Escape puts it back. On a cell
// without a match to move, Enter does the cell's action (open the session,
// its judge console, every session of the slot).

import { ApiError, api, auth } from "../api.js";
import { fill, h } from "../dom.js";

const hhmm = (iso) => new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });

export function mount(root, { id, query, go }) {
  const base = `/api/tournaments/${id}`;
  const editor = auth.maySchedule;
  let data = null; // {tournament, versions, version, courts, slots, matches, teams, judges, report, day}
  let vid = Number(query.get("version")) || null;
  let dayDate = query.get("date") || null;
  let picked = null; // assignment id picked up with the keyboard
  let cursor = { row: 0, col: 0 }; // the grid cell that holds the tab stop
  let focusGrid = false; // after the next render, the cursor's cell takes the focus

  const title = h("h1", { id: "tournament-title" }, "Scheduling");
  const msg = h("p", { class: "message", id: "sched-message", "aria-live": "polite" });
  const refusal = h("div", { id: "move-refused", role: "alert", hidden: true });
  const versionSel = h("select", { id: "version" });
  const daySel = h("select", { id: "sched-day" });
  const versionInfo = h("span", { class: "chip", id: "version-status" });
  const bNew = h("button", { type: "button", id: "btn-new-version" }, "New version");
  const bClone = h("button", { type: "button", id: "btn-clone" }, "Clone to a draft");
  const bAuto = h("button", { type: "button", id: "btn-auto", class: "primary" }, "Auto-assign");
  const bFinal = h("button", { type: "button", id: "btn-finalize", class: "danger" }, "Finalize…");
  const confirmFinal = h(
    "div",
    { class: "confirm", id: "finalize-confirm", hidden: true, role: "group", "aria-label": "Confirm finalizing" },
    h("span", { id: "finalize-question" }),
    h("button", { type: "button", class: "danger", id: "btn-finalize-yes" }, "Yes, finalize"),
    h("button", { type: "button", id: "btn-finalize-no" }, "Cancel"),
  );
  const gridBox = h("div", { id: "sched-grid-box" });
  const unplacedBox = h("div", { id: "unplaced" });
  const reportBox = h("div", { id: "conflict-report" });
  const links = h("p", { class: "links" }, h("a", { href: `#/board/${id}`, id: "to-board" }, "Live board"));

  root.append(
    h(
      "div",
      { class: "view tournament" },
      h("header", { class: "view-head" }, h("div", {}, title, h("p", { class: "subtitle", id: "tournament-sub" })), links),
      msg,
      refusal,
      h(
        "section",
        { class: "panel", "aria-labelledby": "versions-h" },
        h("h2", { id: "versions-h" }, "Schedule version"),
        h(
          "div",
          { class: "row" },
          h("div", { class: "field" }, h("label", { for: "version" }, "Version"), versionSel),
          h("div", { class: "field" }, h("label", { for: "sched-day" }, "Day"), daySel),
          h("div", { class: "field" }, h("span", {}, "Status"), versionInfo),
        ),
        editor ? h("div", { class: "actions" }, bNew, bClone, bAuto, bFinal) : null,
        confirmFinal,
      ),
      h(
        "section",
        { class: "panel", "aria-labelledby": "grid-h" },
        h("h2", { id: "grid-h" }, "Courts and slots"),
        h("p", { class: "muted small", id: "grid-help" }, "Drag a match to another slot. With the keyboard: arrow keys move between cells; Enter or Space on a match picks it up, the arrow keys choose a slot, Enter or Space puts it there, Escape puts it back. The server checks every move. A match placed by hand is marked locked: auto-assign keeps it where it is."),
        gridBox,
      ),
      h("section", { class: "panel", "aria-labelledby": "unplaced-h" }, h("h2", { id: "unplaced-h" }, "Unplaced matches"), unplacedBox),
      h("section", { class: "panel", "aria-labelledby": "report-h" }, h("h2", { id: "report-h" }, "Conflict report"), reportBox),
    ),
  );

  const say = (text, error = false) => {
    msg.className = `message ${error ? "error" : "ok"}`;
    msg.setAttribute("role", error ? "alert" : "status");
    msg.textContent = text;
  };

  // --- names for plain words --------------------------------------------------
  const teamName = (tid) => (data.teams.get(tid) || {}).name || `team ${tid}`;
  const judgeName = (jid) => (data.judges.get(jid) || {}).name || `judge ${jid}`;
  const matchName = (mid) => {
    const m = data.matches.get(mid);
    return m ? `${teamName(m.petitioner_team_id)} v. ${teamName(m.respondent_team_id)}` : `match ${mid}`;
  };
  const slotName = (sid) => {
    const s = data.slots.get(sid);
    if (!s) return `slot ${sid}`;
    const c = data.courts.get(s.court_id);
    return `${c ? c.label : "court"} at ${hhmm(s.start)}`;
  };

  /** One violation or unplaced reason as a sentence a tab-room volunteer can act on. */
  const plain = (v) => {
    const m = v.match_id ? matchName(v.match_id) : "the match";
    const blocking = (v.blocking_match_ids || []).filter((x) => x !== v.match_id).map(matchName);
    const other = v.related_match_id ? matchName(v.related_match_id) : blocking.length ? blocking.join(" and ") : "another match";
    const dur = v.match_id && data.matches.get(v.match_id) ? data.matches.get(v.match_id).duration_minutes : null;
    switch (v.code || v.reason_code) {
      case "TEAM_CONFLICT":
        return `${teamName(v.team_id)} would be in two matches at once: ${m} and ${other}.`;
      case "JUDGE_CONFLICT":
        return `${judgeName(v.judge_id)} would judge two matches at once: ${m} and ${other}.`;
      case "STAGE_ORDER":
        if (!v.related_match_id && (v.blocking_stage_ids || []).length) {
          const stages = new Set(v.blocking_stage_ids);
          const waiting = data.version.assignments.filter((a) => !a.slot_id && stages.has((data.matches.get(a.match_id) || {}).stage_id)).map((a) => matchName(a.match_id));
          return `${m} belongs to a later stage: it can be placed only after every match of the earlier stage has a slot${waiting.length ? ` (still unplaced: ${waiting.join(", ")})` : ""}.`;
        }
        return `${m} belongs to a later stage than ${other}, so it cannot start before ${other} ends.`;
      case "COURT_CONFLICT":
        return `${v.slot_id ? slotName(v.slot_id) : "That slot"} already holds ${other}.`;
      case "REST_VIOLATION":
        return `${v.team_id ? teamName(v.team_id) : v.judge_id ? judgeName(v.judge_id) : "Someone"} would not get the tournament's minimum rest between ${m} and ${other}.`;
      case "SLOT_TOO_SHORT":
        return `${v.slot_id ? slotName(v.slot_id) : "That slot"} is shorter than ${m} lasts.`;
      case "NO_SLOT_LONG_ENOUGH":
        return `No slot is long enough for ${m}${dur ? ` (${dur} minutes)` : ""}: add a longer slot or shorten the match.`;
      case "NO_FREE_SLOT":
        return `Every slot long enough for ${m} is taken or would break a rule${blocking.length ? ` (because of ${other})` : ""}.`;
      case "NOT_YET_ASSIGNED":
        return `${m} has no slot yet: run auto-assign, or drag it to a slot.`;
      case "LOCKED_UNASSIGNED":
        return `${m} is locked without a slot: move it by hand.`;
      case "VERSION_FINALIZED":
        return "This version is finalized and cannot change: clone it to a draft first.";
      default:
        return v.message || v.reason || String(v.code || v.reason_code);
    }
  };

  // --- loading ------------------------------------------------------------------
  const load = async () => {
    const [tournament, versions, courts, slots, matches, teams, judges] = await Promise.all([
      api("GET", base),
      api("GET", `${base}/schedule/versions`),
      api("GET", `${base}/courts`),
      api("GET", `${base}/slots`),
      api("GET", `${base}/matches`),
      api("GET", `${base}/teams`),
      api("GET", `${base}/judges`),
    ]);
    const byId = (rows) => new Map(rows.map((r) => [r.id, r]));
    data = {
      tournament,
      versions: versions.versions.sort((a, b) => a.number - b.number),
      courts: byId(courts.courts),
      slots: byId(slots.slots),
      matches: byId(matches.matches),
      teams: byId(teams.teams),
      judges: byId(judges.judges),
      version: null,
      report: null,
      day: null,
    };
    title.textContent = `Scheduling · ${tournament.name}`;
    if (!vid || !data.versions.some((v) => v.id === vid)) vid = data.versions.length ? data.versions[data.versions.length - 1].id : null;
    const days = [...new Set(slots.slots.map((s) => s.day_date))].sort();
    if (!dayDate || !days.includes(dayDate)) dayDate = days[0] || null;
    fill(daySel, days.map((d) => h("option", { value: d }, d)));
    if (dayDate) daySel.value = dayDate;
    fill(versionSel, data.versions.map((v) => h("option", { value: String(v.id) }, `Version ${v.number} · ${v.status.toLowerCase()}${v.parent_version_id ? ` (from ${data.versions.find((p) => p.id === v.parent_version_id)?.number ?? "?"})` : ""}`)));
    if (vid) {
      versionSel.value = String(vid);
      const [version, report, day] = await Promise.all([
        api("GET", `${base}/schedule/versions/${vid}`),
        api("GET", `${base}/schedule/conflicts?schedule_version_id=${vid}`),
        dayDate ? api("GET", `${base}/schedule/day?date=${dayDate}&schedule_version_id=${vid}`) : null,
      ]);
      Object.assign(data, { version, report, day });
    }
    render();
  };

  const reload = () =>
    load().catch((err) => {
      say(`Could not load the schedule: ${err.message}`, true);
    });

  const act = async (label, fn) => {
    msg.textContent = "";
    try {
      const out = await fn();
      say(`${label}: done.`);
      return out;
    } catch (err) {
      say(`${label}: ${err.message}`, true);
      return null;
    } finally {
      await reload();
    }
  };

  // --- moves --------------------------------------------------------------------
  const move = async (assignmentId, slotId) => {
    picked = null;
    focusGrid = gridBox.contains(document.activeElement) || focusGrid;
    refusal.hidden = true;
    msg.textContent = ""; // "Picked up …" is over either way
    const a = data.version.assignments.find((x) => x.id === assignmentId);
    if (a && a.slot_id === slotId) {
      render();
      return;
    }
    try {
      await api("PATCH", `${base}/schedule/assignments/${assignmentId}`, { json: { new_slot_id: slotId } });
      say(`Moved ${matchName(a.match_id)} to ${slotName(slotId)}; it is locked there now.`);
    } catch (err) {
      const violations = err instanceof ApiError && err.body && Array.isArray(err.body.violations) ? err.body.violations : [];
      // Redraw from the server first, then explain: what is on screen is what the server has.
      await reload();
      fill(
        refusal,
        h("p", { class: "message error" }, `${matchName(a.match_id)} cannot move to ${slotName(slotId)}${violations.length ? ":" : `: ${err.message}`}`),
        violations.length ? h("ul", { class: "violations" }, violations.map((v) => h("li", { "data-code": v.code }, plain(v)))) : null,
        h("p", { class: "muted small" }, "Nothing was changed."),
      );
      refusal.hidden = false;
      return;
    }
    await reload();
  };

  // --- drawing --------------------------------------------------------------------
  const card = (a, draggable, inGrid = false) => {
    const m = data.matches.get(a.match_id);
    const stage = m ? m.stage_id : "";
    const b = h(
      "button",
      {
        type: "button",
        class: "match-card small",
        id: `match-${a.id}`,
        "data-assignment-id": String(a.id),
        "data-match-id": String(a.match_id),
        "data-locked": a.locked ? "true" : "false",
        "aria-pressed": picked === a.id ? "true" : "false",
        draggable: draggable ? "true" : "false",
        // In the grid the cell holds the tab stop; the arrows reach the card's cell.
        tabindex: inGrid ? "-1" : null,
        title: m ? `stage ${stage}, ${m.duration_minutes} min, judges: ${m.judge_ids.map(judgeName).join(", ") || "none"}` : "",
      },
      a.locked ? h("span", { class: "lock" }, "locked") : null,
      matchName(a.match_id),
    );
    if (draggable) {
      b.addEventListener("dragstart", (ev) => {
        ev.dataTransfer.setData("text/plain", String(a.id));
        ev.dataTransfer.effectAllowed = "move";
      });
      b.addEventListener("click", (ev) => {
        if (inGrid && ev.detail === 0) return; // Enter in the grid: the grid's keys handle it
        pick(picked === a.id ? null : a.id, !inGrid);
        if (inGrid || picked === null) {
          const again = document.getElementById(`match-${a.id}`);
          if (again) again.focus();
        }
      });
    }
    return b;
  };

  /** Pick a match up (or put it down: null); from the unplaced list the grid takes the focus. */
  const pick = (assignmentId, toGrid = false) => {
    picked = assignmentId;
    refusal.hidden = true;
    focusGrid = toGrid && picked !== null;
    render();
    const a = picked === null ? null : data.version.assignments.find((x) => x.id === picked);
    if (a) say(`Picked up ${matchName(a.match_id)}: choose a slot with the arrow keys, then Enter to put it there, or Escape to cancel.`);
  };

  const sessionOf = (assignmentId) => (data.day ? data.day.items.find((i) => i.assignment_id === assignmentId) : null);

  const openSession = async (assignmentId) => {
    const existing = sessionOf(assignmentId);
    if (existing && existing.session_id) return existing.session_id;
    const s = await api("POST", "/api/session/create", { json: { assignment_id: String(assignmentId) } });
    return s.id;
  };

  const render = () => {
    if (!data) return;
    const v = data.version;
    const draft = v && v.status === "DRAFT";
    const editable = editor && draft;
    versionInfo.textContent = v ? v.status.toLowerCase() : "no version yet";
    versionInfo.dataset.status = v ? (draft ? "paused" : "active") : "";
    bClone.disabled = !v;
    bAuto.disabled = !draft;
    bFinal.disabled = !draft;
    document.getElementById("tournament-sub").textContent = v ? `Version ${v.number} of ${data.versions.length} · ${draft ? "draft: edit freely, then finalize" : "finalized: read-only; clone it to change it"}` : "Create a version to start scheduling.";
    if (!v) {
      fill(gridBox, h("p", { class: "muted" }, "No schedule version yet."));
      fill(unplacedBox);
      fill(reportBox);
      return;
    }
    const bySlot = new Map(v.assignments.filter((a) => a.slot_id).map((a) => [a.slot_id, a]));
    const slots = [...data.slots.values()].filter((s) => s.day_date === dayDate);
    const courts = [...data.courts.values()].sort((a, b) => a.number - b.number);
    const starts = [...new Set(slots.map((s) => s.start))].sort();
    const at = new Map(slots.map((s) => [`${s.court_id}|${s.start}`, s]));
    const pickedA = picked ? v.assignments.find((a) => a.id === picked) : null;
    const table = h(
      "table",
      {
        class: `sched-grid${pickedA ? " holding" : ""}`,
        id: "sched-grid",
        role: "grid",
        "aria-labelledby": "grid-h",
        "aria-describedby": "grid-help",
      },
      h("caption", { class: "sr-only" }, `Courts and slots on ${dayDate}`),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Start"), courts.map((c) => h("th", { scope: "col" }, c.label)), h("th", { scope: "col" }, "Whole slot"))),
      h(
        "tbody",
        {},
        starts.map((start) =>
          h(
            "tr",
            {},
            h("th", { scope: "row" }, hhmm(start)),
            courts.map((c) => {
              const slot = at.get(`${c.id}|${start}`);
              if (!slot) return h("td", { class: "nocell" }, h("span", { class: "sr-only" }, "no slot"));
              const a = bySlot.get(slot.id);
              const item = a ? sessionOf(a.id) : null;
              const td = h(
                "td",
                { class: "cell", "data-slot-id": String(slot.id), "data-court": c.label, "data-start": start },
                a ? card(a, editable, true) : h("span", { class: "muted small" }, "free"),
                a && item && item.session_id ? h("a", { class: "small", href: `#/judge/${item.session_id}`, "data-open-session": String(a.id) }, "Judge console") : null,
                a && item && !item.session_id && editor && !draft ? h("button", { type: "button", class: "small link", "data-open-session": String(a.id), onclick: async () => {
                        const sid = await act("Open the live session", () => openSession(a.id));
                        if (sid) go(`/judge/${sid}`);
                      },
                    }, "Open the live session") : null,
                pickedA && pickedA.slot_id !== slot.id ? h("button", { type: "button", class: "small move-here", "data-move-to": String(slot.id), onclick: () => move(pickedA.id, slot.id) }, `Move here (${c.label}, ${hhmm(start)})`) : null,
              );
              if (editable) {
                td.addEventListener("dragover", (ev) => {
                  ev.preventDefault();
                  td.classList.add("drop-target");
                });
                td.addEventListener("dragleave", () => td.classList.remove("drop-target"));
                td.addEventListener("drop", (ev) => {
                  ev.preventDefault();
                  td.classList.remove("drop-target");
                  const aid = Number(ev.dataTransfer.getData("text/plain"));
                  if (aid) move(aid, slot.id);
                });
              }
              return td;
            }),
            h(
              "td",
              {},
              editor && !draft && data.day && data.day.items.some((i) => i.slot.start === start)
                ? h(
                    "button",
                    {
                      type: "button",
                      class: "small",
                      "data-open-slot": start,
                      onclick: () =>
                        act(`Open the sessions of ${hhmm(start)}`, async () => {
                          const ids = [];
                          for (const i of data.day.items.filter((x) => x.slot.start === start)) ids.push(await openSession(i.assignment_id));
                          return ids;
                        }).then((ids) => ids && go(`/board/${id}?date=${dayDate}`)),
                    },
                    "Open all sessions of this slot",
                  )
                : null,
            ),
          ),
        ),
      ),
    );
    if (gridBox.contains(document.activeElement)) focusGrid = true; // the redraw keeps the focus
    fill(gridBox, starts.length ? h("div", { class: "scroll-x" }, table) : h("p", { class: "muted" }, "No slots on this day."));
    roving(table, pickedA);

    // Unplaced matches, with why each could not be placed (from the conflict report).
    const reasons = new Map((data.report.unassigned || []).map((u) => [u.assignment_id, u]));
    const unplaced = v.assignments.filter((a) => !a.slot_id);
    fill(
      unplacedBox,
      unplaced.length === 0
        ? h("p", { class: "muted", id: "unplaced-none" }, "Every match has a slot.")
        : h(
            "ul",
            { class: "stack" },
            unplaced.map((a) => {
              const u = reasons.get(a.id);
              return h(
                "li",
                { "data-assignment-id": String(a.id) },
                card(a, editable),
                u ? h("p", { class: "small unplaced-reason", "data-reason-code": u.reason_code || "" }, plain({ ...u, code: u.reason_code, message: u.reason })) : null,
                u && u.slot_failures && u.slot_failures.length ? h("p", { class: "muted small" }, `Slots tried: ${u.slot_failures.map((f) => `${f.slot_count} refused for ${String(f.reason_code).toLowerCase().replace(/_/g, " ")}`).join("; ")}.`) : null,
              );
            }),
          ),
    );

    // The conflict report: the summary and every violation in words.
    const s = data.report.summary;
    const vs = data.report.violations || [];
    fill(
      reportBox,
      h(
        "p",
        { id: "report-summary", "data-conflict-free": String(s.conflict_free) },
        `${s.assigned_count} of ${s.total_matches} matches placed, ${s.unassigned_count} unplaced, ${s.locked_count} locked, ${s.violation_count} violation${s.violation_count === 1 ? "" : "s"}; ${s.used_slots_count} of ${s.total_slots} slots used.`,
      ),
      s.conflict_free ? h("p", { class: "message ok" }, "No conflicts.") : null,
      vs.length ? h("ul", { class: "violations", id: "report-violations" }, vs.map((x) => h("li", { "data-code": x.code }, plain(x)))) : null,
      h(
        "table",
        { class: "table small" },
        h("caption", {}, "Stages"),
        h("thead", {}, h("tr", {}, ["Event", "Stage", "Placed", "First start", "Last end"].map((c) => h("th", { scope: "col" }, c)))),
        h(
          "tbody",
          {},
          (data.report.stage_timeline || []).map((t) =>
            h("tr", {}, h("td", {}, t.event), h("th", { scope: "row" }, t.stage), h("td", {}, `${t.assigned_count} of ${t.total_matches}`), h("td", {}, t.first_assigned_start_time ? hhmm(t.first_assigned_start_time) : "—"), h("td", {}, t.last_assigned_end_time ? hhmm(t.last_assigned_end_time) : "—")),
          ),
        ),
      ),
    );
  };

  // --- the grid's keys (a roving tabindex over the body's cells) ----------------------
  const cellsOf = (table) => [...table.tBodies[0].rows].map((tr) => [...tr.cells].filter((c) => c.tagName === "TD"));

  const roving = (table, pickedA) => {
    const rows = cellsOf(table);
    if (!rows.length) return;
    cursor.row = Math.min(cursor.row, rows.length - 1);
    cursor.col = Math.min(cursor.col, rows[cursor.row].length - 1);
    rows.forEach((cells, r) =>
      cells.forEach((td, c) => {
        td.setAttribute("role", "gridcell");
        td.tabIndex = r === cursor.row && c === cursor.col ? 0 : -1;
        td.dataset.row = String(r);
        td.dataset.col = String(c);
        if (pickedA && td.dataset.slotId === String(pickedA.slot_id)) td.classList.add("picked-from");
        // One tab stop for the whole grid: what is inside a cell is reached by its cell.
        for (const el of td.querySelectorAll("a, button")) el.tabIndex = -1;
      }),
    );
    table.addEventListener("keydown", (ev) => gridKey(ev, rows));
    table.addEventListener("focusin", (ev) => {
      const td = ev.target.closest("td[data-row]");
      if (td) setCursor(rows, Number(td.dataset.row), Number(td.dataset.col), false);
    });
    if (focusGrid) {
      focusGrid = false;
      rows[cursor.row][cursor.col].focus();
    }
  };

  const setCursor = (rows, row, col, focus = true) => {
    row = Math.max(0, Math.min(row, rows.length - 1));
    col = Math.max(0, Math.min(col, rows[row].length - 1));
    const before = rows[cursor.row] && rows[cursor.row][cursor.col];
    if (before) before.tabIndex = -1;
    cursor = { row, col };
    const td = rows[row][col];
    td.tabIndex = 0;
    if (focus) td.focus();
  };

  const gridKey = (ev, rows) => {
    const td = ev.target.closest("td[data-row]");
    if (!td || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    const r = Number(td.dataset.row);
    const c = Number(td.dataset.col);
    const moves = {
      ArrowUp: [r - 1, c],
      ArrowDown: [r + 1, c],
      ArrowLeft: [r, c - 1],
      ArrowRight: [r, c + 1],
      Home: [r, 0],
      End: [r, rows[r].length - 1],
    };
    if (ev.key in moves) {
      ev.preventDefault();
      setCursor(rows, ...moves[ev.key]);
      return;
    }
    if (ev.key !== "Enter" && ev.key !== " ") return;
    ev.preventDefault();
    const slotId = td.dataset.slotId ? Number(td.dataset.slotId) : null;
    if (picked) {
      if (slotId) move(picked, slotId);
      else say("Not a slot: choose a court's cell, or press Escape to put the match back.", true);
      return;
    }
    const here = td.querySelector(".match-card[draggable='true']");
    if (here) {
      pick(Number(here.dataset.assignmentId));
      return;
    }
    const action = td.querySelector("a[href], button:not(.match-card)");
    if (action) action.click();
  };

  // --- controls -------------------------------------------------------------------
  versionSel.addEventListener("change", () => {
    vid = Number(versionSel.value);
    picked = null;
    reload();
  });
  daySel.addEventListener("change", () => {
    dayDate = daySel.value;
    reload();
  });
  bNew.addEventListener("click", () =>
    act("New version", async () => {
      const v = await api("POST", `${base}/schedule/versions`, { json: {} });
      vid = v.id;
    }),
  );
  bClone.addEventListener("click", () =>
    act("Clone", async () => {
      const v = await api("POST", `${base}/schedule/versions/${vid}/clone`, { json: {} });
      vid = v.id;
    }),
  );
  bAuto.addEventListener("click", () =>
    act("Auto-assign", async () => {
      const r = await api("POST", `${base}/schedule/versions/${vid}/auto-assign`, { json: {} });
      return r;
    }).then((r) => r && say(`Auto-assign placed ${r.placed_count} matches (${r.locked_count} locked kept), ${r.unassigned_count} unplaced.`)),
  );
  bFinal.addEventListener("click", () => {
    const s = data.report.summary;
    document.getElementById("finalize-question").textContent =
      s.unassigned_count > 0
        ? `${s.unassigned_count} match(es) have no slot: finalizing is refused until every match is placed.`
        : `Finalize version ${data.version.number}? It becomes read-only and is the schedule everyone sees; changes then need a clone.`;
    confirmFinal.hidden = false;
    document.getElementById("btn-finalize-yes").focus();
  });
  document.getElementById("btn-finalize-no").addEventListener("click", () => {
    confirmFinal.hidden = true;
    bFinal.focus();
  });
  document.getElementById("btn-finalize-yes").addEventListener("click", () => {
    confirmFinal.hidden = true;
    act("Finalize", () => api("POST", `${base}/schedule/versions/${vid}/finalize`, { json: {} }));
  });
  const onKey = (ev) => {
    if (ev.key === "Escape" && picked) {
      const back = picked;
      const from = document.getElementById(`match-${back}`);
      const inGrid = from && gridBox.contains(from);
      if (inGrid) {
        // The tab stop goes back to the match's cell.
        const td = from.closest("td[data-row]");
        cursor = { row: Number(td.dataset.row), col: Number(td.dataset.col) };
        focusGrid = true;
      }
      picked = null;
      render();
      say("Put back: nothing was moved.");
      if (!inGrid) {
        const b = document.getElementById(`match-${back}`);
        if (b) b.focus();
      }
    }
  };
  document.addEventListener("keydown", onKey);
  reload();
  return {
    dispose() {
      document.removeEventListener("keydown", onKey);
    },
  };
}

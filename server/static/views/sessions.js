// Sessions: live now, pending (for judges), recently completed; a new
// session (for judges); and the schedule of the day.

import { ApiError, api, auth } from "../api.js";
import { fill, h } from "../dom.js";

function links(s, mayControl) {
  const id = s.id;
  const out = [];
  if (s.status !== "completed") {
    if (mayControl) out.push(h("a", { href: `#/judge/${id}`, class: "button small" }, "Judge console"));
    out.push(h("a", { href: `#/speak/${id}`, class: "button small" }, "Speak"));
    out.push(h("a", { href: `#/watch/${id}`, class: "button small" }, "Watch"));
  }
  out.push(h("a", { href: `#/replay/${id}`, class: "button small" }, "Replay"));
  return h("div", { class: "actions" }, out);
}

function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

function sessionTable(id, caption, rows, mayControl, empty) {
  if (rows.length === 0) return h("p", { class: "muted", id }, empty);
  return h(
    "table",
    { class: "table", id },
    h("caption", { class: "sr-only" }, caption),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Session"), h("th", { scope: "col" }, "Status"), h("th", { scope: "col" }, "Since"), h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Open")))),
    h(
      "tbody",
      {},
      rows.map((s) =>
        h(
          "tr",
          { "data-session-id": s.id },
          h("th", { scope: "row" }, s.title || "(untitled)", h("br"), h("code", { class: "muted small" }, s.id)),
          h("td", {}, h("span", { class: "chip", "data-status": s.status }, s.status)),
          h("td", {}, when(s.started_at || s.created_at)),
          h("td", {}, links(s, mayControl)),
        ),
      ),
    ),
  );
}

function today() {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

function scheduleSection() {
  const select = h("select", { id: "tournament" });
  const date = h("input", { id: "schedule-date", type: "date", value: today() });
  const out = h("div", { id: "schedule", "aria-live": "polite" });
  const tlinks = h("p", { class: "links", id: "tournament-links" });
  let loads = 0;
  const load = async () => {
    if (!select.value) return;
    const mine = ++loads; // a slower earlier answer must not overwrite a later one
    const tid = select.value;
    fill(
      tlinks,
      h("a", { href: `#/board/${select.value}?date=${date.value}`, id: "open-board" }, "Live board of the day"),
      auth.mayOrganise ? [" · ", h("a", { href: `#/tournament/${select.value}`, id: "open-scheduling" }, "Scheduling")] : null,
    );
    fill(out, h("p", { class: "muted" }, "Loading…"));
    try {
      const day = await api("GET", `/api/tournaments/${tid}/schedule/day?date=${date.value}`);
      if (mine !== loads) return;
      if (day.items.length === 0) {
        fill(out, h("p", { class: "muted" }, `Nothing scheduled on ${day.date} (schedule version ${day.version_number}, ${day.version_status}).`));
        return;
      }
      fill(
        out,
        h(
          "table",
          { class: "table", id: "schedule-table", "data-tournament-id": tid, "data-date": day.date },
          h("caption", {}, `${day.date} · schedule version ${day.version_number} (${day.version_status})`),
          h("thead", {}, h("tr", {}, ["Time", "Court", "Match", "Judges", "Session"].map((c) => h("th", { scope: "col" }, c)))),
          h(
            "tbody",
            {},
            day.items.map((i) =>
              h(
                "tr",
                {},
                h("td", {}, new Date(i.slot.start).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })),
                h("td", {}, i.court.label),
                h("th", { scope: "row" }, `${i.petitioner.name} v. ${i.respondent.name}`, h("br"), h("span", { class: "muted small" }, `${i.event.name} · ${i.stage.name}`)),
                h("td", {}, i.judges.map((j) => j.name).join(", ") || "—"),
                h("td", {}, i.session_id ? [h("span", { class: "chip", "data-status": i.session_status }, i.session_status), " ", links({ id: i.session_id, status: i.session_status }, auth.mayControl)] : h("span", { class: "muted" }, "not opened")),
              ),
            ),
          ),
        ),
      );
    } catch (err) {
      if (mine !== loads) return;
      fill(out, h("p", { class: "muted" }, err instanceof ApiError && err.status === 404 ? "This tournament has no schedule yet." : `The schedule is not available: ${err.message}`));
    }
  };
  select.addEventListener("change", load);
  date.addEventListener("change", load);
  const node = h(
    "section",
    { class: "panel", "aria-labelledby": "schedule-title" },
    h("h2", { id: "schedule-title" }, "Schedule of the day"),
    h("div", { class: "row" }, h("div", { class: "field" }, h("label", { for: "tournament" }, "Tournament"), select), h("div", { class: "field" }, h("label", { for: "schedule-date" }, "Day"), date)),
    tlinks,
    out,
  );
  (async () => {
    try {
      const t = await api("GET", "/api/tournaments");
      if (t.tournaments.length === 0) {
        select.disabled = true;
        select.append(h("option", { value: "" }, "no tournaments"));
        fill(out, h("p", { class: "muted" }, "No tournaments are scheduled on this server."));
        return;
      }
      for (const x of t.tournaments) select.append(h("option", { value: String(x.id) }, x.name));
      load();
    } catch (err) {
      select.disabled = true;
      fill(out, h("p", { class: "muted" }, `Scheduling is not available: ${err.message}`));
    }
  })();
  return node;
}

function newSessionForm(reload, go) {
  const title = h("input", { id: "new-title", maxlength: "200", placeholder: "Acme v. Zenith, Court 2" });
  const anon = h("input", { id: "new-anon", type: "checkbox", checked: true });
  const msg = h("p", { class: "message", "aria-live": "polite" });
  const form = h(
    "form",
    { class: "panel", id: "new-session", "aria-labelledby": "new-title-h" },
    h("h2", { id: "new-title-h" }, "New session"),
    h("div", { class: "field" }, h("label", { for: "new-title" }, "Title"), title),
    h("div", { class: "check" }, anon, h("label", { for: "new-anon" }, "Anyone with the link may watch (no account needed)")),
    h("button", { type: "submit", class: "primary" }, "Create session"),
    msg,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const s = await api("POST", "/api/session/create", { json: { title: title.value.trim(), allow_anonymous_observers: anon.checked } });
      go(`/judge/${s.id}`);
    } catch (err) {
      msg.className = "message error";
      msg.textContent = `Could not create it: ${err.message}`;
    }
    reload();
  });
  return form;
}

export function mount(root, { go }) {
  const mayControl = auth.mayControl;
  const live = h("div", { id: "live-sessions" }, h("p", { class: "muted" }, "Loading…"));
  const pending = h("div", {});
  const done = h("div", {});
  const error = h("p", { class: "message error", role: "alert", hidden: true });
  const shown = new Map(); // table id -> the rows it shows, so a refresh redraws (and moves focus) only on change
  const put = (node, id, caption, rows, empty) => {
    const key = JSON.stringify(rows);
    if (shown.get(id) === key) return;
    shown.set(id, key);
    fill(node, sessionTable(id, caption, rows, mayControl, empty));
  };
  const reload = async () => {
    try {
      const active = await api("GET", "/api/session/active/list");
      put(live, "active-table", "Live sessions", active.sessions, "No session is live right now.");
      if (mayControl) {
        const p = await api("GET", "/api/session/list?status=pending");
        put(pending, "pending-table", "Pending sessions", p.sessions, "No pending sessions.");
      }
      const c = await api("GET", "/api/session/list?status=completed");
      put(done, "completed-table", "Completed sessions", c.sessions.slice(-10).reverse(), "No completed sessions yet.");
      error.hidden = true;
    } catch (err) {
      error.hidden = false;
      error.textContent = `Could not load the sessions: ${err.message}`;
    }
  };
  root.append(
    h("h1", { id: "sessions-title" }, "Sessions"),
    error,
    h(
      "div",
      { class: "grid two" },
      h(
        "div",
        { class: "stack" },
        h("section", { class: "panel", "aria-labelledby": "live-h" }, h("h2", { id: "live-h" }, "Live now"), live),
        mayControl ? h("section", { class: "panel", "aria-labelledby": "pending-h" }, h("h2", { id: "pending-h" }, "Pending"), pending) : null,
        h("section", { class: "panel", "aria-labelledby": "done-h" }, h("h2", { id: "done-h" }, "Recently completed"), done),
      ),
      h("div", { class: "stack" }, mayControl ? newSessionForm(reload, go) : null, scheduleSection()),
    ),
  );
  reload();
  const timer = setInterval(reload, 15000);
  return { dispose: () => clearInterval(timer) };
}

// What the live views share: who joins how, and the page frame.

import { api, auth } from "../api.js";
import { fill, h } from "../dom.js";
import { LiveSession } from "../live.js";

export const MISSING = Symbol("no such session");

/** The session's current record over HTTP: null when not signed in or not readable, MISSING when there is no such session. */
export async function sessionRecord(id) {
  if (!auth.get()) return null;
  try {
    return await api("GET", `/api/session/${encodeURIComponent(id)}`);
  } catch (err) {
    return err && err.status === 404 ? MISSING : null;
  }
}

/**
 * The page shown instead of a live view the server refused: no such session
 * (close 4404, HTTP 404), sign in first (4401, or 4403 while anonymous), or
 * not allowed (4403 while signed in). `kind` is one of "missing", "sign-in",
 * "forbidden"; `reason` is the server's message.
 */
export function refusalPage(id, kind, reason = "") {
  const here = location.hash.replace(/^#/, "") || `/watch/${id}`;
  const signedIn = !!auth.get();
  const back = () => (signedIn ? h("a", { href: "#/sessions" }, "Back to the sessions") : h("a", { href: "#/login" }, "Sign in"));
  const parts = {
    missing: [
      "No such session",
      [h("p", {}, "There is no session with the id ", h("code", {}, id), ". Check the link, or ask the court for a new one."), h("p", { class: "links" }, back())],
    ],
    "sign-in": [
      "Sign in to watch this session",
      [
        h("p", {}, "This session admits signed-in observers only."),
        h("p", {}, h("a", { href: `#/login?next=${encodeURIComponent(here)}`, class: "button primary", id: "refusal-sign-in" }, "Sign in to watch")),
      ],
    ],
    forbidden: [
      "You may not open this session",
      [h("p", {}, reason ? `The server says: ${reason}.` : "Your account has no access to it."), h("p", { class: "links" }, back())],
    ],
  }[kind];
  return h("section", { class: "card narrow refusal", id: "refusal", "data-kind": kind, role: "alert" }, h("h1", { tabindex: "-1" }, parts[0]), parts[1]);
}

/** The refusal for a close code that ends a live view, or null. */
export function refusalKind(code) {
  if (code === 4404) return "missing";
  if (code === 4401) return "sign-in";
  if (code === 4403) return auth.get() ? "forbidden" : "sign-in";
  return null;
}

/**
 * Replace `root` with the refusal page when the server turns the live
 * session away, instead of leaving a dashed clock and "verifying…" on screen.
 */
export function refuseInto(root, live, id) {
  return live.on((kind, data) => {
    if (kind !== "closed") return;
    const r = refusalKind(data.code);
    if (!r) return;
    live.stop();
    showRefusal(root, id, r, data.reason);
  });
}

/** Fill `root` with the refusal page and move the focus to its heading (read out first). */
export function showRefusal(root, id, kind, reason = "") {
  fill(root, refusalPage(id, kind, reason));
  root.querySelector("#refusal h1").focus();
}

/** Start a LiveSession with the given hello fields. */
export function openLive(id, fields) {
  const live = new LiveSession(id, () => ({ token: auth.token, ...fields }));
  return live.start();
}

/** A <details> listing a view's keyboard shortcuts. */
export function shortcutHelp(rows) {
  return h(
    "details",
    { class: "shortcuts" },
    h("summary", {}, "Keyboard shortcuts"),
    h(
      "dl",
      {},
      rows.map(([k, what]) => [h("dt", {}, h("kbd", {}, k)), h("dd", {}, what)]),
    ),
  );
}

/** Disposes everything in a list of {dispose} (and functions). */
export function disposer(items) {
  return () => {
    for (const x of items.splice(0).reverse()) {
      try {
        if (typeof x === "function") x();
        else if (x && x.dispose) x.dispose();
      } catch (err) {
        console.error(err);
      }
    }
  };
}

export function shareLinks(id, { watch = true } = {}) {
  const watchUrl = `${location.origin}${location.pathname}#/watch/${id}`;
  return h(
    "p",
    { class: "links" },
    watch ? [h("a", { href: `#/watch/${id}` }, "Observer view"), " · "] : null,
    h("a", { href: `#/replay/${id}` }, "Replay"),
    " · ",
    h(
      "button",
      {
        type: "button",
        class: "link",
        onclick: async (ev) => {
          try {
            await navigator.clipboard.writeText(watchUrl);
            ev.target.textContent = "Link copied";
          } catch {
            ev.target.textContent = watchUrl;
          }
        },
      },
      "Copy the observers' link",
    ),
  );
}

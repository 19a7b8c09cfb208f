// What the live views share: who joins how, and the page frame.

import { api, auth } from "../api.js";
import { h } from "../dom.js";
import { LiveSession } from "../live.js";

/** The session's current record over HTTP (null when not signed in or not found). */
export async function sessionRecord(id) {
  if (!auth.get()) return null;
  try {
    return await api("GET", `/api/session/${encodeURIComponent(id)}`);
  } catch {
    return null;
  }
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

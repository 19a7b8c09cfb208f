// The courtroom in the browser: a hash router over the views.
//
//   #/login              sign in (or watch a session without an account)
//   #/sessions           live, pending and completed sessions; the schedule of the day
//   #/judge/<id>         judge console
//   #/speak/<id>         speaker view
//   #/watch/<id>         observer view (no account needed where the session allows)
//   #/replay/<id>        replay a session's log with its clock
//   #/board/<tournament> live board of a tournament's day (organisers; anyone where public)
//   #/tournament/<id>    scheduling: versions, auto-assign, the courts × slots grid
//
// window.__courtroom is a small hook for tests and the curious: the live
// session (clock, socket, verifier), its received sequence numbers, and the
// moments commands were sent.

import { auth } from "./api.js";
import { fill, h } from "./dom.js";

window.__courtroom = {
  live: null,
  marks: {},
  get seqs() {
    return this.live ? [...this.live.socket.seqs] : [];
  },
};

const ROUTES = [
  { re: /^\/login$/, view: () => import("./views/login.js"), open: true },
  { re: /^\/sessions$/, view: () => import("./views/sessions.js") },
  { re: /^\/judge\/([\w-]+)$/, view: () => import("./views/judge.js") },
  { re: /^\/speak\/([\w-]+)$/, view: () => import("./views/speaker.js") },
  { re: /^\/watch\/([\w-]+)$/, view: () => import("./views/observer.js"), open: true },
  { re: /^\/replay\/([\w-]+)$/, view: () => import("./views/replay.js") },
  { re: /^\/board\/(\d+)$/, view: () => import("./views/board.js"), open: true },
  { re: /^\/tournament\/(\d+)$/, view: () => import("./views/tournament.js") },
];

let current = null; // {dispose}
let generation = 0;

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = raw.split("?");
  return { path, query: new URLSearchParams(query) };
}

export function go(path) {
  location.hash = "#" + path;
}

function renderNav() {
  const nav = document.getElementById("nav");
  const a = auth.get();
  fill(
    nav,
    a
      ? [
          h("a", { href: "#/sessions" }, "Sessions"),
          h("a", { href: "/verify", id: "nav-verify" }, "Verify a bundle"),
          h("span", { class: "who", id: "signed-in-as" }, `${a.name || a.username} (${a.role.toLowerCase()})`),
          h(
            "button",
            {
              class: "link",
              type: "button",
              onclick: () => {
                auth.clear();
                go("/login");
              },
            },
            "Sign out",
          ),
        ]
      : [h("a", { href: "/verify", id: "nav-verify" }, "Verify a bundle"), h("a", { href: "#/login" }, "Sign in")],
  );
}

async function route() {
  const gen = ++generation;
  lastToken = auth.token;
  const { path, query } = parseHash();
  if (current) {
    try {
      current.dispose();
    } catch (err) {
      console.error(err);
    }
    current = null;
  }
  renderNav();
  const main = document.getElementById("main");
  if (path === "/") {
    go(auth.get() ? "/sessions" : "/login");
    return;
  }
  const match = ROUTES.map((r) => [r, r.re.exec(path)]).find(([, m]) => m);
  if (!match) {
    fill(main, h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/sessions" }, "Back to the sessions")));
    return;
  }
  const [r, m] = match;
  if (!r.open && !auth.get()) {
    go(`/login?next=${encodeURIComponent(path)}`);
    return;
  }
  const mod = await r.view();
  if (gen !== generation) return; // the user moved on meanwhile
  fill(main);
  current = mod.mount(main, { id: m[1], query, go }) || { dispose() {} };
  const heading = main.querySelector("h1");
  if (heading && !main.contains(document.activeElement)) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
  }
}

window.addEventListener("hashchange", route);
// Signing in or out in another tab of this browser (localStorage changed
// there): signed out, every tab leaves its signed-in views; signed in (or as
// someone else), the views are drawn again for the new identity, and a tab
// waiting on the sign-in page goes where it was going.
let lastToken = auth.token;
window.addEventListener("storage", (ev) => {
  if (ev.key !== auth.key && ev.key !== null) return;
  const token = auth.token;
  if (token === lastToken) return;
  lastToken = token;
  const { path, query } = parseHash();
  if (token && path === "/login") go(query.get("next") || "/sessions");
  else route();
});
window.addEventListener("courtroom:signed-out", () => {
  const { path } = parseHash();
  if (!path.startsWith("/watch/") && path !== "/login") go(`/login?next=${encodeURIComponent(path)}`);
});

document.getElementById("skip").addEventListener("click", (ev) => {
  ev.preventDefault();
  const main = document.getElementById("main");
  main.focus();
});

route();

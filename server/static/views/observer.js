// Observer view: the clock, who is speaking, the feed, how many watch.
// No account needed where the session admits anonymous observers.

import { auth } from "../api.js";
import { fill, h } from "../dom.js";
import { disposer, openLive, shareLinks } from "./common.js";
import { clockPanel, feedList, liveHeader } from "./widgets.js";

export function mount(root, { id }) {
  const parts = [];
  const dispose = disposer(parts);
  const live = openLive(id, { as: "observer" });
  parts.push(() => live.stop());
  const head = liveHeader(live, "Watching");
  const clock = clockPanel(live, { big: true });
  const feed = feedList(live, { limit: 100, title: "What happened" });
  const count = h("p", { class: "observers", id: "observer-count", "aria-live": "polite" });
  const refused = h("div", { id: "refused", hidden: true });
  parts.push(head, clock, feed);
  parts.push(
    live.on((kind, data) => {
      if (kind === "state" || kind === "welcome") {
        const n = live.state.observers_now;
        count.textContent = `${n} watching`;
        count.dataset.count = String(n);
      }
      if (kind === "closed" && (data.code === 4403 || data.code === 4401)) {
        refused.hidden = false;
        fill(
          refused,
          h("p", { class: "message error", role: "alert" }, auth.get() ? "You may not watch this session." : "This session admits signed-in observers only."),
          auth.get() ? null : h("p", {}, h("a", { href: `#/login?next=${encodeURIComponent(`/watch/${id}`)}`, class: "button primary" }, "Sign in to watch")),
        );
      }
    }),
  );
  root.append(h("div", { class: "view observer" }, head.node, refused, h("div", { class: "grid two" }, h("div", { class: "stack" }, clock.node, count), feed.node), shareLinks(id, { watch: false })));
  return { dispose };
}

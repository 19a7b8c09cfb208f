// Observer view: the clock, who is speaking, the feed, how many watch.
// No account needed where the session admits anonymous observers.

import { h } from "../dom.js";
import { disposer, openLive, refuseInto, shareLinks } from "./common.js";
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
  parts.push(head, clock, feed);
  parts.push(
    live.on((kind) => {
      if (kind === "state" || kind === "welcome") {
        const n = live.state.observers_now;
        count.textContent = `${n} watching`;
        count.dataset.count = String(n);
      }
    }),
  );
  parts.push(refuseInto(root, live, id));
  root.append(h("div", { class: "view observer" }, head.node, h("div", { class: "grid two" }, h("div", { class: "stack" }, clock.node, count), feed.node), shareLinks(id, { watch: false })));
  return { dispose };
}

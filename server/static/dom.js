// A few DOM helpers: h() builds elements, announce() speaks to screen readers.

/**
 * h("button", {class: "x", onclick: f, "aria-label": "..."}, "text", child)
 * Props: `class`, `text`, `dataset` (object), `on<event>` handlers, booleans
 * (true sets the attribute, false leaves it out), anything else an attribute.
 */
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else if (k === "value") node.value = v;
    else if (v === true) node.setAttribute(k, "");
    else node.setAttribute(k, String(v));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replace a node's children. */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

let announceTimer = 0;

/** Say something through the page's polite live region. */
export function announce(text) {
  const region = document.getElementById("sr-announcer");
  if (!region) return;
  clearTimeout(announceTimer);
  region.textContent = "";
  // A fresh text node after a tick, so the same words are announced again.
  announceTimer = setTimeout(() => {
    region.textContent = text;
  }, 50);
}

/** Local time of day "14:03:07" of an epoch ms. */
export function timeOfDay(ms) {
  const d = new Date(ms);
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
}

/** Is the keyboard focus in a field where keys type text? */
export function typing(ev) {
  const t = ev.target;
  if (!(t instanceof HTMLElement)) return false;
  if (t.isContentEditable) return true;
  if (t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement) return true;
  // A range slider keeps its arrow keys; buttons and boxes do not type.
  if (t instanceof HTMLInputElement) return !["button", "checkbox", "radio", "submit", "reset"].includes(t.type);
  return false;
}

/** Keyboard shortcuts for a view: {key: handler}; returns the remover. */
export function shortcuts(map) {
  const onKey = (ev) => {
    if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey || typing(ev)) return;
    // Space and Enter on a button, link or summary are that control's own.
    if ((ev.key === " " || ev.key === "Enter") && ev.target instanceof Element && ev.target.closest("button, a, summary")) return;
    const fn = map[ev.key];
    if (fn) {
      ev.preventDefault();
      fn(ev);
    }
  };
  document.addEventListener("keydown", onKey);
  return () => document.removeEventListener("keydown", onKey);
}

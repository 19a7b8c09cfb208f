// The bundle verifier page (verify.html, served whole at /verify): read a
// bundle file and, optionally, the trusted keys; verify with bundle.js's
// verifyBundle (the checks and the wording of clients/_bundle.py); show the
// verdict, every finding, each checkpoint and the entries around the first
// failure. No network: a saved copy of the page works from file://.

import { BUNDLE_FORMAT, BUNDLE_FORMATS, entryFields, verifyBundle } from "./bundle.js";
import { keysFromDocument, parseVerifierKey } from "./record.js";

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}

/** Trusted keys from a key file: a key list (JSON) or verifier keys, one a line. */
export function readKeys(text) {
  let doc;
  try {
    doc = JSON.parse(text);
  } catch {
    const lines = text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
    return keysFromDocument(lines.map((l) => ({ verifier_key: l })));
  }
  return keysFromDocument(doc);
}

let trusted = null; // Map key id → public key, or null: the bundle's own
let bundleText = null;

/**
 * Verify a bundle's text against `keys` (a Map, or null for the bundle's
 * own); draw the result. Resolves to the report, or {unreadable: why}.
 */
export async function run(text, keys = trusted, { requireComplete = $("require-complete").checked } = {}) {
  const result = $("result");
  result.hidden = false;
  result.dataset.state = "running";
  $("verdict").textContent = "Verifying…";
  for (const id of ["failures", "notes"]) $(id).replaceChildren();
  $("checkpoints").tBodies[0].replaceChildren();
  $("entries").tBodies[0].replaceChildren();
  $("summary").textContent = "";
  $("entries-note").textContent = "";
  let doc;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return unreadable(`not a JSON bundle (${err.message})`);
  }
  if (!doc || typeof doc !== "object" || !BUNDLE_FORMATS[doc.format]) return unreadable(`not a ${BUNDLE_FORMAT} (or courtroom-bundle/1) file`);
  const progress = $("progress");
  const report = await verifyBundle(doc, keys, {
    requireComplete,
    onprogress: (done, total) => {
      progress.max = Math.max(1, total);
      progress.value = done;
      $("summary").textContent = `Checked ${done.toLocaleString("en")} of ${total.toLocaleString("en")} entries…`;
    },
  });
  progress.value = progress.max;
  draw(doc, report);
  window.__verifier.report = report;
  return report;
}

function unreadable(why) {
  $("result").dataset.state = "unreadable";
  $("verdict").textContent = `Cannot read this file: ${why}`;
  const report = { unreadable: why };
  window.__verifier.report = report;
  return report;
}

function draw(doc, r) {
  $("result").dataset.state = r.valid ? "valid" : "failed";
  $("result").dataset.firstInvalid = r.first_invalid_sequence === null ? "" : String(r.first_invalid_sequence);
  $("verdict").textContent = r.valid
    ? `✓ valid: ${r.entries} entries, ${r.checkpoints} signed checkpoints` + (r.completed_at ? ", reaches the final checkpoint" : "")
    : `✗ FAILED: ${r.failures[0]}`;
  $("summary").textContent = `Session ${r.session_id} (${doc.status || "status not given"}): ${r.entries} entries chain` + (r.signed_size ? `, entries 1..${r.signed_size} are signed` : ", none signed") + ".";
  $("failures").replaceChildren(...r.failures.map((f) => el("li", { class: "bad" }, `FAILED: ${f}`)));
  $("notes").replaceChildren(...r.notes.map((n) => el("li", {}, n)));
  $("checkpoints").tBodies[0].replaceChildren(
    ...r.rows.map((c) =>
      el("tr", {}, el("td", {}, String(c.n)), el("td", {}, String(c.tree_size)), el("td", {}, c.time), el("td", { class: "mono" }, c.key_id), mark(c.signature), mark(c.tree)),
    ),
  );
  drawEntries(Array.isArray(doc.entries) ? doc.entries : [], r);
}

function mark(status) {
  return el("td", { class: status === "ok" ? "ok" : status === "unchecked" ? "" : "bad" }, status === "ok" ? "✓ ok" : status);
}

/** Entry by entry: around the first bad one, else the first and the last (a long log is not drawn whole). */
function drawEntries(entries, r) {
  const n = entries.length;
  let rows;
  if (r.first_invalid_sequence !== null) {
    const at = Math.min(r.entries, n - 1);
    rows = range(Math.max(0, at - 5), Math.min(n, at + 6));
  } else {
    rows = n <= 200 ? range(0, n) : [...range(0, 100), ...range(n - 100, n)];
  }
  $("entries-note").textContent = rows.length < n ? `Showing ${rows.length} of ${n} entries; every one was checked.` : "";
  $("entries").tBodies[0].replaceChildren(
    ...rows.map((i) => {
      const e = entryFields(entries[i]);
      const chained = i < r.entries;
      const row = el(
        "tr",
        { "data-index": String(i + 1) },
        el("td", {}, `#${e.sequence_number ?? "?"}`),
        el("td", {}, String(e.timestamp ?? "")),
        el("td", {}, String(e.event_type ?? "")),
        el("td", { class: chained ? "ok" : "bad" }, chained ? "✓" : i === r.entries && r.first_invalid_sequence !== null ? `✗ ${r.reason || "breaks here"}` : "after the break"),
        el("td", {}, chained && i < r.signed_size ? "✓" : ""),
        el("td", { class: "mono" }, String(e.hash ?? "").slice(0, 16) + "…"),
      );
      return row;
    }),
  );
}

function range(a, b) {
  return Array.from({ length: Math.max(0, b - a) }, (_, i) => a + i);
}

async function readFile(file) {
  return file.text();
}

async function useBundle(file) {
  bundleText = await readFile(file);
  return run(bundleText);
}

async function useKeys(text, label) {
  setKeys(text, label);
  if (bundleText !== null) await run(bundleText);
}

function setKeys(text, label) {
  try {
    trusted = readKeys(text);
    $("keys-status").textContent = `Keys: ${trusted.size} trusted from ${label} (${[...trusted.keys()].join(", ")}).`;
  } catch (err) {
    trusted = null;
    $("keys-status").textContent = `Keys: ${label} is not a key list (${err.message}); using the bundle's own.`;
  }
}

function wire() {
  const drop = $("drop");
  $("bundle-file").addEventListener("change", (ev) => ev.target.files[0] && useBundle(ev.target.files[0]));
  $("keys-file").addEventListener("change", async (ev) => ev.target.files[0] && useKeys(await readFile(ev.target.files[0]), ev.target.files[0].name));
  $("require-complete").addEventListener("change", () => bundleText !== null && run(bundleText));
  drop.addEventListener("dragover", (ev) => {
    ev.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", async (ev) => {
    ev.preventDefault();
    drop.classList.remove("over");
    // Two files dropped together: the one that is a key list gives the keys.
    const files = [...ev.dataTransfer.files];
    const texts = await Promise.all(files.map(readFile));
    const bundle = texts.findIndex((t) => t.includes('"courtroom-bundle/'));
    texts.forEach((t, i) => i !== bundle && setKeys(t, files[i].name));
    if (bundle >= 0) bundleText = texts[bundle];
    if (bundleText !== null) run(bundleText);
  });
  if (location.protocol === "http:" || location.protocol === "https:") {
    const button = $("server-keys");
    button.hidden = false;
    button.addEventListener("click", async () => {
      const res = await fetch(new URL("/.well-known/courtroom-keys", location.href));
      await useKeys(await res.text(), "this server");
    });
  }
}

window.__verifier = { run, readKeys, verifyBundle, keysFromDocument, parseVerifierKey, report: null, ready: true };
wire();

// Record v2 (docs/protocol.md section 4) in the browser: the RFC 6962 tree of
// a log, signed checkpoints (C2SP notes, Ed25519 through WebCrypto), key
// lists, and the offline bundle verifier.
//
// One implementation for every page: the live views and the replay check the
// checkpoints they receive with CheckpointWatch, the verifier page (/verify)
// runs verifyBundle. Its findings are worded as clients/_bundle.py words them,
// so the browser and `courtroom-client verify` name a failure alike.
//
// Hashing is the synchronous SHA-256 of chain.js: three digests per entry
// (chain v1, leaf, node) cost less there than WebCrypto's promise per call.
// A long format 2 bundle's payloads are hashed ahead in Web Workers (rows.js's
// HashPool) while the page checks each entry in order. Ed25519 needs WebCrypto
// (a secure context: https, localhost, file://).

import { GENESIS_HASH, brokenSequence, entryPayload, entryProblem, hashesEqual, sha256Digest, toHex } from "./chain.js";
import { HashPool, hashRow, hexEquals, isCanonicalDetails, writePayloads } from "./rows.js";

export const BUNDLE_FORMAT = "courtroom-bundle/2"; // what export writes
export const BUNDLE_FORMATS = { "courtroom-bundle/1": 1, [BUNDLE_FORMAT]: 2 };

/** An entry's display fields, whichever format it came in (format 2: an array). */
export function entryFields(e) {
  if (Array.isArray(e)) return { sequence_number: e[1], timestamp: e[2], event_type: e[3], hash: e[7] };
  return e && typeof e === "object" ? e : {};
}
export const COMPLETED = "SESSION_COMPLETED";
const utf8 = new TextEncoder();

// --- bytes ----------------------------------------------------------------------

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict standard base64 (padding required), as Python's b64decode(validate=True). */
export function b64ToBytes(text) {
  if (typeof text !== "string" || !B64.test(text)) throw new TypeError("not base64");
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function bytesToB64(bytes) {
  let bin = "";
  for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
  return btoa(bin);
}

/** Bytes of a hex string (null when it is not hex of whole bytes). */
export function hexToBytes(hex) {
  if (typeof hex !== "string" || hex.length % 2 || !/^[0-9a-fA-F]*$/.test(hex)) return null;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}

function bytesEqual(a, b) {
  if (!a || !b || a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

// --- the tree (protocol/merkle.py) ------------------------------------------------

const SCRATCH = new Uint8Array(65);

/** RFC 6962 leaf hash from the 32 bytes of an entry's chain v1 hash. */
export function leafFromBytes(hash) {
  SCRATCH[0] = 0;
  SCRATCH.set(hash, 1);
  return sha256Digest(SCRATCH, 33);
}

/** RFC 6962 leaf hash of one log entry, from its chain v1 hash (64 hex digits). */
export function leafHash(entryHashHex) {
  return leafFromBytes(hexToBytes(entryHashHex));
}

export function nodeHash(left, right) {
  SCRATCH[0] = 1;
  SCRATCH.set(left, 1);
  SCRATCH.set(right, 33);
  return sha256Digest(SCRATCH, 65);
}

export const EMPTY_ROOT = sha256Digest(new Uint8Array(0));

/** The hash of a subtree from its complete nodes, left to right. */
export function fold(hashes) {
  let h = hashes[hashes.length - 1];
  for (let i = hashes.length - 2; i >= 0; i--) h = nodeHash(hashes[i], h);
  return h;
}

/**
 * The right edge of the tree: one complete node per set bit of the size
 * (protocol.merkle.CompactRange). Appending is amortised O(1); `created`
 * collects the complete nodes the new leaf made, as [level, index, hash].
 */
export class CompactRange {
  constructor() {
    this.size = 0;
    this.frontier = []; // largest subtree first
  }

  append(leaf, created = null) {
    const index = this.size;
    const f = this.frontier;
    let h = leaf;
    let level = 0;
    let at = index; // floor(index / 2 ** level)
    if (created) created.push([0, index, leaf]);
    while (at % 2 === 1) {
      h = nodeHash(f.pop(), h);
      level += 1;
      at = (at - 1) / 2;
      if (created) created.push([level, at, h]);
    }
    f.push(h);
    this.size += 1;
  }

  root() {
    return this.frontier.length ? fold(this.frontier) : EMPTY_ROOT;
  }
}

/** The complete nodes [level, index] covering leaves [start, end), greedily largest. */
export function rangeNodes(start, end) {
  const out = [];
  while (start < end) {
    let level = 0;
    while (start % 2 ** (level + 1) === 0 && 2 ** (level + 1) <= end - start) level += 1;
    out.push([level, start / 2 ** level]);
    start += 2 ** level;
  }
  return out;
}

/** Every complete node in memory, so a root at any earlier size can be folded. */
export class MemoryTree {
  constructor() {
    this.compact = new CompactRange();
    this.levels = [];
  }

  get size() {
    return this.compact.size;
  }

  append(leaf) {
    const created = [];
    this.compact.append(leaf, created);
    for (const [level, , h] of created) (this.levels[level] ||= []).push(h);
  }

  rootAt(size) {
    if (size === 0) return EMPTY_ROOT;
    return fold(rangeNodes(0, size).map(([lv, ix]) => this.levels[lv][ix]));
  }
}

// --- keys and notes (protocol/checkpoint.py) --------------------------------------

export class RecordError extends Error {}

/** C2SP signed-note key id: the first 4 bytes of SHA-256(name ‖ "\n" ‖ 0x01 ‖ key), hex. */
export function keyId(name, publicKey) {
  const n = utf8.encode(name);
  const buf = new Uint8Array(n.length + 2 + publicKey.length);
  buf.set(n);
  buf[n.length] = 0x0a;
  buf[n.length + 1] = 0x01;
  buf.set(publicKey, n.length + 2);
  return toHex(sha256Digest(buf).subarray(0, 4));
}

/** [name, public key] from `<name>+<key id hex>+<base64(0x01 ‖ key)>`; checks the id. */
export function parseVerifierKey(text) {
  const t = String(text).trim();
  const i = t.indexOf("+");
  const j = i < 0 ? -1 : t.indexOf("+", i + 1);
  let raw;
  try {
    if (j < 0) throw new TypeError();
    raw = b64ToBytes(t.slice(j + 1));
  } catch {
    throw new RecordError("not a verifier key (name+keyid+base64)");
  }
  const name = t.slice(0, i);
  if (raw.length !== 33 || raw[0] !== 1 || keyId(name, raw.subarray(1)) !== t.slice(i + 1, j).toLowerCase()) {
    throw new RecordError("verifier key: wrong algorithm, length or key id");
  }
  return [name, raw.slice(1)];
}

/**
 * Map key id → public key from a /.well-known/courtroom-keys document or a
 * bundle's key list. Each id is recomputed from the key, so a list cannot
 * claim another key's id.
 */
export function keysFromDocument(doc) {
  const items = doc && typeof doc === "object" && !Array.isArray(doc) ? doc.keys : doc;
  if (!Array.isArray(items)) throw new RecordError("no key list");
  const out = new Map();
  for (const k of items) {
    let name;
    let pub;
    try {
      if (k && typeof k === "object" && "verifier_key" in k) [name, pub] = parseVerifierKey(String(k.verifier_key));
      else if (k && typeof k === "object" && "name" in k) [name, pub] = [String(k.name), b64ToBytes(k.public_key)];
      else throw new TypeError();
    } catch {
      throw new RecordError(`not a public key: ${JSON.stringify(k)}`);
    }
    out.set(keyId(name, pub), pub);
  }
  return out;
}

const BODY = /^courtroom\/session\/([^\n]+)\n(0|[1-9][0-9]{0,18})\n([A-Za-z0-9+/]{43}=)\nchain ([0-9a-f]{64})\ntime ([^\n]+)\n$/;
const SIG = /^\u2014 ([^\s+]+) ([A-Za-z0-9+/=]+)\n$/;

/**
 * A signed checkpoint note (one signature line), parsed, not verified:
 * {checkpoint: {session_id, tree_size, root_hash (bytes), chain_head, time},
 *  body (the signed bytes), key_name, key_id, signature}.
 */
export function parseNote(note) {
  if (typeof note !== "string") throw new RecordError("not a courtroom checkpoint note");
  const at = note.indexOf("\n\n");
  const m = at < 0 ? null : BODY.exec(note.slice(0, at) + "\n");
  const s = at < 0 ? null : SIG.exec(note.slice(at + 2));
  if (!m || !s) throw new RecordError("not a courtroom checkpoint note");
  let raw;
  try {
    raw = b64ToBytes(s[2]);
  } catch {
    throw new RecordError("signature is not base64");
  }
  if (raw.length !== 68) throw new RecordError("signature is not a key id and an Ed25519 signature");
  const root = b64ToBytes(m[3]);
  // The body as checkpoint.py writes it from the fields (base64 re-encoded):
  // what the server signed.
  const body = `courtroom/session/${m[1]}\n${m[2]}\n${bytesToB64(root)}\nchain ${m[4]}\ntime ${m[5]}\n`;
  return {
    checkpoint: { session_id: m[1], tree_size: Number(m[2]), root_hash: root, chain_head: m[4], time: m[5] },
    body: utf8.encode(body),
    key_name: s[1],
    key_id: toHex(raw.subarray(0, 4)),
    signature: raw.slice(4),
  };
}

/** Whether a checkpoint's JSON fields are its note's (the note is what is signed). */
export function fieldsMatch(c, signed) {
  const cp = signed.checkpoint;
  return (
    c.session_id === cp.session_id &&
    c.tree_size === cp.tree_size &&
    c.root_hash === toHex(cp.root_hash) &&
    c.chain_head === cp.chain_head &&
    c.time === cp.time &&
    c.key_id === signed.key_id
  );
}

/** Whether WebCrypto is there to check Ed25519 signatures (a secure context). */
export const canVerifySignatures = () => typeof crypto !== "undefined" && !!crypto.subtle;

/** Ed25519 (RFC 8032) through WebCrypto; false for a bad key or signature. */
export async function verifySignature(publicKey, signature, body) {
  try {
    const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
    return await crypto.subtle.verify({ name: "Ed25519" }, key, signature, body);
  } catch {
    return false;
  }
}

// --- the bundle verifier (clients/_bundle.py) ------------------------------------

function isObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

const nextTask = () => new Promise((resolve) => setTimeout(resolve, 0));

/**
 * Why format 2 row `r` does not follow (null when it does). `digest` gets its
 * hash: computed here, or (`hashed`) already by a worker: true, or false when
 * a field is not of its type.
 */
function rowProblem(r, expected, prev, sid, digest, hashed = null) {
  if (!Array.isArray(r) || r.length !== 8) return "not an entry (an array of the eight hashed fields)";
  if (r[1] !== expected) return `expected entry #${expected}, got #${r[1]}`;
  if (sid !== null && r[0] !== sid) return "entry of another session";
  if (!hashesEqual(r[6], prev)) return "previous_hash does not match the entry before it";
  if (!isCanonicalDetails(r[5])) return "its details text is not canonical JSON (docs/protocol.md section 4)";
  if (!(hashed ?? hashRow(r, digest)) || !hexEquals(r[7], digest)) return "hash does not match the entry's fields";
  return null;
}

/**
 * Batches of format 2 rows, `batch` at a time, their payloads hashed ahead by
 * `pool`'s workers, a few batches in flight: {lo, hi, ends, out} in order
 * (`out`: 64 bytes a row, its hash and leaf hash; null if a worker failed).
 */
async function* hashedAhead(entries, pool, batch) {
  const inflight = [];
  let next = 0;
  const submit = () => {
    const lo = next;
    const hi = Math.min(entries.length, lo + batch);
    next = hi;
    const job = writePayloads(entries, lo, hi);
    inflight.push({ lo, hi, ends: job.ends, out: pool.hash(job).catch(() => null) });
  };
  while (next < entries.length || inflight.length) {
    while (inflight.length < 2 * pool.workers.length && next < entries.length) submit();
    const b = inflight.shift();
    yield { lo: b.lo, hi: b.hi, ends: b.ends, out: await b.out };
  }
}

/** Why format 1 entry `e` does not follow (null when it does); `digest` gets its hash. */
function entryObjectProblem(e, expected, prev, sid, digest, scratch) {
  if (!isObject(e) || !isObject(e.details)) return "not an entry (an object with an object of details)";
  const payload = entryPayload(e); // ASCII (ensure_ascii), so one byte a character
  if (payload.length > scratch.buf.length) scratch.buf = new Uint8Array(payload.length * 2);
  const { written } = utf8.encodeInto(payload, scratch.buf);
  sha256Digest(scratch.buf, written, digest);
  return entryProblem(e, expected, prev, sid, toHex(digest));
}

/** Workers for a long format 2 bundle: one per core, at most 4; none below `parallelMin` rows. */
function hashPool(entries, version, workers, parallelMin) {
  if (version !== 2 || entries.length < parallelMin) return null;
  const n = workers ?? Math.min(4, (typeof navigator !== "undefined" && navigator.hardwareConcurrency) || 2);
  return HashPool.open(n);
}

/**
 * Chain v1 over the entries (format 1 objects or format 2 rows), the tree
 * over those that chain, and the root at each size in `wanted`. Yields to the
 * page every `chunk` entries (progress). A long format 2 bundle's payloads
 * are hashed ahead in workers; the checks, in order, are the same.
 */
async function chainAndTree(entries, version, sessionId, wanted, { onprogress, chunk, workers, parallelMin, batch }) {
  const range = new CompactRange();
  const roots = new Map();
  const digest = new Uint8Array(32);
  const scratch = { buf: new Uint8Array(4096) };
  const pool = hashPool(entries, version, workers, parallelMin);
  let expected = 1;
  let prev = GENESIS_HASH;
  let sid = sessionId;
  let completedAt = null;
  let broken = null;
  let reason = null;
  let count = 0;
  // One entry in order; false once the chain breaks. `hashed`: see rowProblem;
  // `leaf`: its leaf hash, when a worker made it.
  const step = (e, hashed, leaf) => {
    count += 1;
    let problem;
    if (version === 2) problem = rowProblem(e, expected, prev, sid, digest, hashed);
    else problem = entryObjectProblem(e, expected, prev, sid, digest, scratch);
    if (problem !== null) {
      const shaped = version === 2 ? Array.isArray(e) && e.length === 8 : isObject(e) && isObject(e.details);
      broken = shaped ? brokenSequence(entryFields(e), expected) : expected;
      reason = problem;
      return false;
    }
    const f = version === 2 ? e : null;
    if (sid === null) sid = f ? f[0] : e.session_id;
    expected += 1;
    prev = f ? f[7] : e.hash;
    range.append(leaf ?? leafFromBytes(digest));
    if (wanted.has(range.size)) roots.set(range.size, range.root());
    if (completedAt === null && (f ? f[3] : e.event_type) === COMPLETED) completedAt = range.size;
    if (count % chunk === 0 && onprogress) onprogress(count, entries.length);
    return true;
  };
  if (pool) {
    try {
      batches: for await (const { lo, hi, ends, out } of hashedAhead(entries, pool, batch)) {
        for (let i = lo; i < hi; i++) {
          const at = 64 * (i - lo);
          if (out !== null) digest.set(out.subarray(at, at + 32));
          const ok = out === null ? step(entries[i], null, null) : step(entries[i], ends[i - lo] >= 0, out.subarray(at + 32, at + 64));
          if (!ok) break batches;
        }
      }
    } finally {
      pool.close();
    }
  } else {
    for (const e of entries) {
      if (!step(e, null, null)) break;
      if (count % chunk === 0) await nextTask();
    }
  }
  if (onprogress) onprogress(count, entries.length);
  return { good: range.size, count, broken, reason, roots, completedAt, workers: pool ? pool.workers.length : 0 };
}

/**
 * Verify a parsed bundle (docs/protocol.md "The bundle"); `trusted`: a Map
 * key id → public key (default: the bundle's own keys, and the report says
 * so). Resolves to clients._bundle.BundleReport.as_dict()'s fields, plus
 * `reason` (why the chain broke) and `rows` (one line per checkpoint).
 */
export async function verifyBundle(doc, trusted = null, { requireComplete = false, onprogress = null, chunk = 20000, workers = null, parallelMin = 50000, batch = 4096 } = {}) {
  const sid = doc && doc.session_id != null ? String(doc.session_id) : "";
  const failures = [];
  const notes = [];
  const report = { valid: false, session_id: sid, entries: 0, checkpoints: 0, signed_size: 0, first_invalid_sequence: null, failures, notes, reason: null, rows: [] };
  if (trusted === null) {
    try {
      trusted = keysFromDocument(doc.keys || []);
    } catch (err) {
      failures.push(`keys: ${err.message}`);
      trusted = new Map();
    }
    notes.push("keys taken from the bundle itself (pass --key or --keys to check who signed)");
  }

  // Parse every checkpoint; its JSON fields must be its note's.
  const checkpoints = [];
  (Array.isArray(doc.checkpoints) ? doc.checkpoints : []).forEach((c, i) => {
    let signed;
    try {
      signed = parseNote(isObject(c) ? c.note : undefined);
    } catch {
      failures.push(`checkpoint ${i + 1}: not a signed checkpoint note`);
      return;
    }
    if (!fieldsMatch(c, signed)) {
      failures.push(`checkpoint ${i + 1} (size ${signed.checkpoint.tree_size}): its fields differ from its signed note`);
    }
    checkpoints.push({ n: i + 1, signed, row: { n: i + 1, tree_size: signed.checkpoint.tree_size, key_id: signed.key_id, time: signed.checkpoint.time, signature: "unchecked", tree: "unchecked" } });
  });
  report.checkpoints = checkpoints.length;
  report.rows = checkpoints.map((c) => c.row);

  // Signatures, sessions, order.
  await Promise.all(
    checkpoints.map(async (c) => {
      const pub = trusted.get(c.signed.key_id);
      c.verified = pub !== undefined && (await verifySignature(pub, c.signed.signature, c.signed.body));
      c.row.signature = pub === undefined ? "untrusted key" : c.verified ? "ok" : "bad";
    }),
  );
  let lastSize = 0;
  let lastTime = "";
  for (const { n, signed, verified } of checkpoints) {
    const cp = signed.checkpoint;
    const where = `checkpoint ${n} (size ${cp.tree_size})`;
    if (cp.session_id !== sid) failures.push(`${where}: signed for session ${cp.session_id}, not ${sid}`);
    if (!trusted.has(signed.key_id)) failures.push(`${where}: signed by key ${signed.key_id}, which is not trusted`);
    else if (!verified) failures.push(`${where}: the signature does not verify`);
    if (cp.tree_size <= lastSize) failures.push(`${where}: not after the checkpoint of size ${lastSize} (replayed or reordered)`);
    else if (cp.time < lastTime) failures.push(`${where}: signed at ${cp.time}, before the previous one (${lastTime}): replayed`);
    lastSize = Math.max(lastSize, cp.tree_size);
    if (cp.time > lastTime) lastTime = cp.time;
  }

  // Entries: chain v1 and the tree, then each checkpoint against its prefix.
  let entries = doc.entries;
  if (!Array.isArray(entries)) {
    failures.push("the bundle has no entry list");
    entries = [];
  }
  const wanted = new Set(checkpoints.map((c) => c.signed.checkpoint.tree_size));
  const version = BUNDLE_FORMATS[doc.format] || 1;
  const chain = await chainAndTree(entries, version, sid || null, wanted, { onprogress, chunk, workers, parallelMin, batch });
  for (const c of checkpoints) {
    const cp = c.signed.checkpoint;
    if (!(cp.tree_size > 0 && cp.tree_size <= chain.good)) {
      c.row.tree = cp.tree_size > chain.good ? "beyond the entries" : "empty";
      continue;
    }
    if (!hashesEqual(cp.chain_head, entryFields(entries[cp.tree_size - 1]).hash) || !bytesEqual(cp.root_hash, chain.roots.get(cp.tree_size))) {
      c.row.tree = "contradicts";
      failures.push(`checkpoint ${c.n} (size ${cp.tree_size}) contradicts the entries: entries 1..${cp.tree_size} are not the ones it signed`);
    } else {
      c.row.tree = "ok";
      if (c.verified) report.signed_size = Math.max(report.signed_size, cp.tree_size);
    }
  }
  const chainValid = chain.broken === null;
  report.entries = chain.good;
  if (!chainValid) {
    report.first_invalid_sequence = chain.broken;
    report.reason = chain.reason;
    failures.unshift(`entry #${chain.broken}: the chain breaks here (edited, inserted, deleted or reordered)`);
  } else {
    for (const c of checkpoints) {
      const size = c.signed.checkpoint.tree_size;
      if (size > report.entries) failures.push(`checkpoint ${c.n} signs ${size} entries but the bundle has ${report.entries}: the tail was cut`);
    }
  }

  // Completion.
  const at = chain.completedAt;
  if (chainValid) {
    if ((doc.status === "completed" || requireComplete) && at === null) {
      failures.push("the session is completed but its log has no SESSION_COMPLETED");
    }
    if (at !== null && !checkpoints.some((c) => c.signed.checkpoint.tree_size === at)) {
      failures.push(`no signed checkpoint at the completion (entry #${at}): the final checkpoint is missing`);
    } else if (at !== null && report.signed_size < at) {
      failures.push(`the final checkpoint (entry #${at}) does not verify`);
    }
  }
  report.valid = failures.length === 0;
  report.completed_at = at;
  report.workers = chain.workers; // how many workers hashed ahead (0: all in the page)
  if (report.entries > report.signed_size && report.valid) {
    notes.push(`entries ${report.signed_size + 1}..${report.entries} come after the last signed checkpoint (chained, not yet signed)`);
  }
  return report;
}

// --- live pages: checkpoints as they arrive --------------------------------------

let publishedKeys = null;

/** The server's published keys (/.well-known/courtroom-keys), fetched once per page. */
export function serverKeys() {
  if (!publishedKeys) {
    publishedKeys = fetch("/.well-known/courtroom-keys", { headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`HTTP ${r.status}`))))
      .then(keysFromDocument);
    publishedKeys.catch(() => (publishedKeys = null)); // try again with the next checkpoint
  }
  return publishedKeys;
}

/**
 * The checkpoints of one session as a page receives them, against the entries
 * it holds: feed it each entry once chain v1 holds for it (`addEntry`) and
 * every checkpoint (`addCheckpoint`: a `checkpoint` frame, or the list of
 * /checkpoints). A checkpoint must parse, carry its note's fields, name this
 * session, be signed by a published key, and its root and chain head must be
 * those of the entries at its size (one past the page's entries waits for
 * them). `result()`: {signedAt, checked, failure: {size, short, reason} | null,
 * unchecked: why signatures cannot be checked here, or null}.
 */
export class CheckpointWatch {
  constructor({ sessionId, keys = serverKeys, onchange = null } = {}) {
    this.sessionId = sessionId;
    this.keys = keys;
    this.onchange = onchange;
    this.tree = new MemoryTree();
    this.heads = [];
    this.waiting = []; // signed checkpoints beyond the entries held
    this.seen = new Set();
    this.signedAt = 0;
    this.checked = 0;
    this.failure = null;
    this.unchecked = canVerifySignatures() ? null : "this page is not a secure context: signatures cannot be checked";
    this.tail = Promise.resolve();
  }

  addEntry(hash) {
    this.tree.append(leafHash(hash));
    this.heads.push(hash);
    const ready = this.waiting.filter((w) => w.checkpoint.tree_size <= this.tree.size);
    if (!ready.length) return;
    this.waiting = this.waiting.filter((w) => w.checkpoint.tree_size > this.tree.size);
    for (const w of ready) this._against(w);
    this._changed();
  }

  /** Queue one checkpoint (a frame's fields); resolves once it is checked or waits for entries. */
  addCheckpoint(c) {
    const run = this.tail.then(() => this._check(c));
    this.tail = run.catch(() => {});
    return run;
  }

  settled() {
    return this.tail.then(() => this.result());
  }

  _fail(size, short, reason) {
    if (!this.failure) this.failure = { size, short, reason };
  }

  async _check(c) {
    const note = isObject(c) ? c.note : undefined;
    if (this.seen.has(note)) return;
    this.seen.add(note);
    let signed;
    try {
      signed = parseNote(note);
    } catch {
      this._fail(isObject(c) ? c.tree_size : null, "not a checkpoint", "not a signed checkpoint note");
      return this._changed();
    }
    const cp = signed.checkpoint;
    if (!fieldsMatch(c, signed)) {
      this._fail(cp.tree_size, "fields differ", "its fields differ from its signed note");
    } else if (cp.session_id !== this.sessionId) {
      this._fail(cp.tree_size, "another session", `signed for session ${cp.session_id}, not ${this.sessionId}`);
    } else if (canVerifySignatures()) {
      let keys = null;
      try {
        keys = await this.keys();
        this.unchecked = null;
      } catch (err) {
        this.unchecked = `the published keys could not be read (${err.message})`; // the next checkpoint tries again
      }
      if (keys) {
        const pub = keys.get(signed.key_id);
        if (pub === undefined) this._fail(cp.tree_size, "unknown key", `signed by key ${signed.key_id}, which the server does not publish`);
        else if (!(await verifySignature(pub, signed.signature, signed.body))) this._fail(cp.tree_size, "bad signature", "the signature does not verify");
        else signed.verified = true;
      }
    }
    if (this.failure === null) {
      if (cp.tree_size <= this.tree.size) this._against(signed);
      else this.waiting.push(signed);
    }
    this._changed();
  }

  /** The root and chain head at the checkpoint's size must be the page's. */
  _against(signed) {
    const cp = signed.checkpoint;
    const size = cp.tree_size;
    if (size === 0) return;
    if (!hashesEqual(cp.chain_head, this.heads[size - 1]) || !bytesEqual(cp.root_hash, this.tree.rootAt(size))) {
      this._fail(size, "contradicts the entries", `entries 1..${size} are not the ones it signed`);
      return;
    }
    this.checked += 1;
    if (signed.verified) this.signedAt = Math.max(this.signedAt, size);
  }

  _changed() {
    if (this.onchange) this.onchange(this.result());
  }

  result() {
    return { signedAt: this.signedAt, checked: this.checked, failure: this.failure, unchecked: this.unchecked, waiting: this.waiting.length };
  }
}

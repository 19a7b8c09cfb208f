// Record v2 (docs/protocol.md section 4) in the browser: the RFC 6962 tree of
// a log, signed checkpoints (C2SP notes, Ed25519 through WebCrypto), key
// lists, and CheckpointWatch, with which the live views and the replay check
// the checkpoints they receive. The offline bundle verifier is bundle.js.
//
// Hashing is the synchronous SHA-256 of chain.js. Ed25519 needs WebCrypto (a
// secure context: https, localhost, file://).

import { hashesEqual, sha256Digest, toHex } from "./chain.js";

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

export function bytesEqual(a, b) {
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

export function isObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
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

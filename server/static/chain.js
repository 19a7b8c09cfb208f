// Chain v1 (PROTOCOL.md section 1) in the browser.
//
// hash = sha256(json.dumps(payload, sort_keys=True)) where payload.details is
// itself json.dumps(details, sort_keys=True), both with Python's defaults:
// separators ", " and ": ", ensure_ascii=True. `pyDumps` reproduces that
// encoder byte for byte for the JSON values a log entry can hold.
//
// SHA-256 comes from WebCrypto where the page is a secure context (https, or
// http on localhost/127.0.0.1); a phone on http://<LAN address> is not one and
// has no crypto.subtle, so a small pure-JS SHA-256 takes over there.

export const GENESIS_HASH = "0".repeat(64);

// --- Python's json.dumps ------------------------------------------------------

const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/; // printable ASCII minus " and \
const SHORT = { 0x22: '\\"', 0x5c: "\\\\", 0x0a: "\\n", 0x0d: "\\r", 0x09: "\\t", 0x08: "\\b", 0x0c: "\\f" };

// Below U+007F, JSON.stringify escapes exactly as Python does (\" \\ \b \f \n \r \t,
// \u00xx in lowercase for the other controls); DEL and beyond it does not.
const ASCII = /^[\x00-\x7e]*$/;

/** A string as json.dumps(s) (ensure_ascii=True) writes it. */
export function pyQuote(s) {
  if (PLAIN.test(s)) return '"' + s + '"';
  if (ASCII.test(s)) return JSON.stringify(s); // e.g. the details text inside a payload: native speed
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i); // UTF-16 code units: astral characters come out as surrogate pairs, as in Python
    const short = SHORT[c];
    if (short !== undefined) out += short;
    else if (c >= 0x20 && c <= 0x7e) out += s[i];
    else out += "\\u" + c.toString(16).padStart(4, "0");
  }
  return out + '"';
}

/** repr() of a Python float, for completeness (log details never hold floats). */
export function pyFloat(v) {
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "Infinity" : "-Infinity";
  const [mant, expText] = v.toExponential().split("e"); // shortest round-trip digits
  const exp = Number(expText);
  const neg = mant.startsWith("-");
  const digits = mant.replace("-", "").replace(".", "");
  let body;
  if (exp >= -4 && exp < 16) {
    if (exp >= digits.length - 1) body = digits + "0".repeat(exp - digits.length + 1) + ".0";
    else if (exp >= 0) body = digits.slice(0, exp + 1) + "." + digits.slice(exp + 1);
    else body = "0." + "0".repeat(-exp - 1) + digits;
  } else {
    const m = digits.length > 1 ? digits[0] + "." + digits.slice(1) : digits;
    body = m + "e" + (exp < 0 ? "-" : "+") + String(Math.abs(exp)).padStart(2, "0");
  }
  return (neg ? "-" : "") + body;
}

const HIGH = /[\ud800-\uffff]/;

export function byCodePoint(a, b) {
  // Python sorts str keys by code point; JS compares UTF-16 units. They agree
  // except between astral characters and U+E000..U+FFFF, handled here.
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return x.done === y.done ? 0 : x.done ? -1 : 1;
    const cx = x.value.codePointAt(0);
    const cy = y.value.codePointAt(0);
    if (cx !== cy) return cx < cy ? -1 : 1;
  }
}

/** json.dumps(value, sort_keys=True) with Python's default separators and ensure_ascii. */
export function pyDumps(value) {
  if (value === null || value === undefined) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "number":
      // JSON.parse cannot tell 3 from 3.0; chain v1 details hold integers only.
      return Number.isInteger(value) && Math.abs(value) < 1e21 ? (value === 0 ? "0" : String(value)) : pyFloat(value);
    case "bigint":
      return value.toString();
    case "string":
      return pyQuote(value);
    default:
      break;
  }
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    return "[" + value.map(pyDumps).join(", ") + "]";
  }
  // UTF-16 order is code point order unless a key holds a surrogate or U+E000..U+FFFF.
  const keys = Object.keys(value).sort();
  if (keys.some((k) => HIGH.test(k))) keys.sort(byCodePoint);
  let out = "{";
  for (let i = 0; i < keys.length; i++) out += (i ? ", " : "") + pyQuote(keys[i]) + ": " + pyDumps(value[keys[i]]);
  return out + "}";
}

/**
 * The exact text that is hashed for one entry: pyDumps of the seven fields
 * (details as its own pyDumps text), written out with the keys in their
 * sorted order, as protocol/_chain.py does, since this is the verifiers' hot path.
 */
export function entryPayload(e) {
  return (
    '{"actor_id": ' + pyDumps(e.actor_id) +
    ', "details": ' + pyQuote(pyDumps(e.details)) +
    ', "event_type": ' + pyDumps(e.event_type) +
    ', "previous_hash": ' + pyDumps(e.previous_hash) +
    ', "sequence_number": ' + pyDumps(e.sequence_number) +
    ', "session_id": ' + pyDumps(e.session_id) +
    ', "timestamp": ' + pyDumps(e.timestamp) +
    "}"
  );
}

// --- SHA-256 ------------------------------------------------------------------

/**
 * A SHA-256 of its own (constants, state and scratch): `makeSha256()` returns
 * `sha256Digest`. Self-contained, so its source also runs in a Web Worker
 * (bundle.js hashes a long bundle's payloads in workers from this text).
 */
export function makeSha256() {
  const ROUND = new Int32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
  ]);

  const WORDS = new Int32Array(64);
  const H0 = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

  /** One 64-byte block at `off` into the state `h` (Int32Array(8)). */
  function compress(h, src, off) {
    const W = WORDS;
    const K = ROUND;
    for (let i = 0; i < 16; i++, off += 4) W[i] = (src[off] << 24) | (src[off + 1] << 16) | (src[off + 2] << 8) | src[off + 3];
    for (let i = 16; i < 64; i++) {
      const a = W[i - 15];
      const b = W[i - 2];
      const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
      const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
      W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
    }
    let a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (let i = 0; i < 64; i++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const t1 = (hh + S1 + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      hh = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += hh;
  }

  const STATE = new Int32Array(8);
  const TAIL = new Uint8Array(128);

  /**
   * SHA-256 of `bytes[0:length]` in plain JavaScript, synchronously, into `out`
   * (32 bytes). No allocation per call: the bundle verifier hashes each entry,
   * leaf and node with it (three per entry), where WebCrypto's per-call promise
   * costs more than the hashing; it is also the fallback outside secure contexts.
   */
  function sha256Digest(bytes, length = bytes.length, out = new Uint8Array(32)) {
    const h = STATE;
    h.set(H0);
    const full = length & ~63;
    for (let off = 0; off < full; off += 64) compress(h, bytes, off);
    const rest = length - full;
    TAIL.fill(0);
    TAIL.set(bytes.subarray(full, length));
    TAIL[rest] = 0x80;
    const end = rest < 56 ? 64 : 128;
    const bits = length * 8;
    const hi = Math.floor(bits / 0x100000000);
    for (let i = 0; i < 4; i++) {
      TAIL[end - 8 + i] = (hi >>> (24 - 8 * i)) & 0xff;
      TAIL[end - 4 + i] = (bits >>> (24 - 8 * i)) & 0xff;
    }
    compress(h, TAIL, 0);
    if (end === 128) compress(h, TAIL, 64);
    for (let i = 0; i < 8; i++) {
      out[i * 4] = h[i] >>> 24;
      out[i * 4 + 1] = (h[i] >>> 16) & 0xff;
      out[i * 4 + 2] = (h[i] >>> 8) & 0xff;
      out[i * 4 + 3] = h[i] & 0xff;
    }
    return out;
  }
  return sha256Digest;
}

/**
 * SHA-256 of `bytes[0:length]` in plain JavaScript, synchronously, into `out`
 * (32 bytes). No allocation per call: the bundle verifier hashes each entry,
 * leaf and node with it (three per entry), where WebCrypto's per-call promise
 * costs more than the hashing; it is also the fallback outside secure contexts.
 */
export const sha256Digest = makeSha256();

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

const HEX_CODES = new TextEncoder().encode("0123456789abcdef");
const HEX_OUT = new Uint8Array(128);
const latin1 = new TextDecoder("latin1");

/** Lowercase hex of bytes (a 32-byte digest per entry on the verifiers' hot path: no concatenation). */
export function toHex(bytes) {
  if (bytes.length > 64) return Array.from(bytes, (b) => HEX[b]).join("");
  for (let i = 0; i < bytes.length; i++) {
    HEX_OUT[2 * i] = HEX_CODES[bytes[i] >> 4];
    HEX_OUT[2 * i + 1] = HEX_CODES[bytes[i] & 15];
  }
  return latin1.decode(HEX_OUT.subarray(0, 2 * bytes.length));
}

/** Hex SHA-256 of bytes in plain JavaScript. */
export function sha256Bytes(bytes) {
  return toHex(sha256Digest(bytes));
}

const encoder = new TextEncoder();

/** Whether WebCrypto's digest is available (a secure context). */
export const hasWebCrypto = () => typeof crypto !== "undefined" && !!crypto.subtle;

/** Hex SHA-256 of a string's UTF-8 bytes; `force` picks "webcrypto" or "js". */
export async function sha256Hex(text, force) {
  const bytes = encoder.encode(text);
  const useWebCrypto = force ? force === "webcrypto" : hasWebCrypto();
  if (!useWebCrypto) return sha256Bytes(bytes);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Chain v1 hash of one entry. */
export function entryHash(e, force) {
  return sha256Hex(entryPayload(e), force);
}

/** Constant-time comparison of two hex strings (PROTOCOL.md: comparisons are constant-time). */
export function hashesEqual(a, b) {
  if (typeof a !== "string" || typeof b !== "string" || a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

// --- verification -------------------------------------------------------------

/**
 * Why entry `e` does not follow (null when it does): the chain v1 rules of
 * PROTOCOL.md section 1, given the sequence number and previous hash expected
 * and `computed`, the chain v1 hash of its fields. Shared by the live pages
 * (ChainVerifier) and the bundle verifier (bundle.js).
 */
export function entryProblem(e, expectedSeq, prev, sessionId, computed) {
  if (e.sequence_number !== expectedSeq) return `expected entry #${expectedSeq}, got #${e.sequence_number}`;
  if (sessionId !== null && e.session_id !== sessionId) return "entry of another session";
  if (!hashesEqual(e.previous_hash, prev)) return "previous_hash does not match the entry before it";
  if (!hashesEqual(e.hash, computed)) return "hash does not match the entry's fields";
  return null;
}

/** The sequence number a break is reported at (protocol._chain.ChainVerifier's rule). */
export function brokenSequence(e, expectedSeq) {
  const seq = e && e.sequence_number;
  return Number.isInteger(seq) && seq > 0 ? seq : expectedSeq;
}

/**
 * Incremental verifier, the browser twin of protocol._chain.ChainVerifier.
 *
 * Feed entries in sequence order; each is checked in turn (the hashes are
 * async) against: the next sequence number, the previous entry's hash, and the
 * chain v1 hash of its own fields. The first bad entry is kept; nothing after
 * it can be trusted. `onchange(result)` runs after every entry.
 */
export class ChainVerifier {
  constructor({ sessionId = null, onchange = null } = {}) {
    this.sessionId = sessionId;
    this.onchange = onchange;
    this.expectedSeq = 1;
    this.prev = GENESIS_HASH;
    this.count = 0;
    this.brokenAt = null;
    this.reason = null;
    this.pending = 0;
    this.tail = Promise.resolve();
  }

  /** Queue one entry; resolves to whether it (and everything before it) holds. */
  feed(entry) {
    this.pending += 1;
    const run = this.tail.then(() => this._check(entry));
    this.tail = run.catch(() => false);
    return run;
  }

  /** Resolves once every queued entry is checked. */
  settled() {
    return this.tail.then(() => this.result());
  }

  async _check(e) {
    try {
      if (this.brokenAt !== null) return false;
      this.count += 1;
      const reason = entryProblem(e, this.expectedSeq, this.prev, this.sessionId, await entryHash(e));
      if (reason !== null) {
        this.brokenAt = brokenSequence(e, this.expectedSeq);
        this.reason = reason;
        return false;
      }
      if (this.sessionId === null) this.sessionId = e.session_id;
      this.expectedSeq += 1;
      this.prev = e.hash;
      return true;
    } catch (err) {
      if (this.brokenAt === null) {
        this.brokenAt = this.expectedSeq;
        this.reason = `unreadable entry: ${err}`;
      }
      return false;
    } finally {
      this.pending -= 1;
      if (this.onchange) this.onchange(this.result());
    }
  }

  result() {
    return {
      valid: this.brokenAt === null,
      entries: this.count,
      verifiedThrough: this.expectedSeq - 1,
      headHash: this.prev,
      firstInvalidSequence: this.brokenAt,
      reason: this.reason,
      pending: this.pending,
    };
  }
}

// --- the test vectors of PROTOCOL.md -------------------------------------------

const VECTOR_SESSION = "3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c";

export const TEST_VECTORS = [
  {
    session_id: VECTOR_SESSION,
    sequence_number: 1,
    timestamp: "2026-02-15T10:00:00.000000+00:00",
    event_type: "SESSION_STARTED",
    actor_id: "7",
    details: { status: "active", from: "pending" },
    hash: "208df97120abc77d972d1fd5a496ee2e47c0405b0b12ede3dea9e387b965cd72",
  },
  {
    session_id: VECTOR_SESSION,
    sequence_number: 2,
    timestamp: "2026-02-15T10:00:05.250000+00:00",
    event_type: "PARTICIPANT_JOINED",
    actor_id: "12",
    details: { role: "petitioner", name: "Zoë Ança", speaker: 1 },
    hash: "9a159291f6f9f79fa0ffef518cc1a5906618af7cb32e1bf0a6ae66d8ebaef065",
  },
  {
    session_id: VECTOR_SESSION,
    sequence_number: 3,
    timestamp: "2026-02-15T10:00:09.125000+00:00",
    event_type: "OBSERVER_JOINED",
    actor_id: null,
    details: { anonymous: true },
    hash: "38bef122d08fd18335b193917ab53a8e137a7ff17f2d4c2545a702a8f9d0fcf5",
  },
];

/**
 * Recompute the vectors as a chain (entry 1 after the genesis hash, each next
 * one after its predecessor) with the given SHA-256 ("webcrypto" or "js").
 * Returns one {sequence_number, expected, actual, ok} per vector.
 */
export async function runTestVectors(force) {
  const out = [];
  let prev = GENESIS_HASH;
  for (const v of TEST_VECTORS) {
    const actual = await entryHash({ ...v, previous_hash: prev }, force);
    out.push({ sequence_number: v.sequence_number, expected: v.hash, actual, ok: actual === v.hash });
    prev = v.hash;
  }
  return out;
}

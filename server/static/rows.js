// Bundle format 2 (docs/protocol.md section 4): each entry is the array of the
// eight fields chain v1 hashes, its details the canonical JSON text that was
// hashed. Verifying one is: check the text is canonical (a scan, no parse),
// write the chain v1 payload's bytes straight into a buffer, hash them. No
// JSON is re-encoded (chain.js's pyDumps is format 1's path).

import { byCodePoint, makeSha256, pyFloat, sha256Digest } from "./chain.js";

// --- canonical details text ---------------------------------------------------------

const SHORT = new Set([0x22, 0x5c, 0x62, 0x66, 0x6e, 0x72, 0x74]); // " \ b f n r t after a backslash (never \/)
const SHORT_CODES = new Set([0x08, 0x09, 0x0a, 0x0c, 0x0d, 0x22, 0x5c]); // what Python escapes short

function hexDigit(c) {
  return c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1; // lowercase only
}

/** End of the string starting at s[i] ('"'), or -1 where Python would have written it otherwise. */
function scanString(s, i) {
  for (i++; i < s.length; ) {
    const c = s.charCodeAt(i);
    if (c === 0x22) return i + 1;
    if (c < 0x20 || c > 0x7e) return -1; // ensure_ascii: every other character is escaped
    if (c !== 0x5c) {
      i++;
      continue;
    }
    const e = s.charCodeAt(i + 1);
    if (e === 0x75) {
      let v = 0;
      for (let k = 2; k < 6; k++) {
        const d = hexDigit(s.charCodeAt(i + k));
        if (d < 0) return -1;
        v = v * 16 + d;
      }
      if ((v >= 0x20 && v <= 0x7e) || SHORT_CODES.has(v)) return -1; // written as itself, or short
      i += 6;
    } else if (SHORT.has(e)) {
      i += 2;
    } else {
      return -1;
    }
  }
  return -1;
}

const NUMBER_CHAR = /[-+.0-9eE]/y;
const INTEGER = /^-?(?:0|[1-9][0-9]*)$/;
const INT_MAX_STR_DIGITS = 4300;

function scanNumber(s, i) {
  let j = i;
  NUMBER_CHAR.lastIndex = j;
  while (NUMBER_CHAR.test(s)) NUMBER_CHAR.lastIndex = ++j;
  const tok = s.slice(i, j);
  // Python's int, up to the digits its str conversions allow (sys.get_int_max_str_digits())
  if (INTEGER.test(tok)) return tok === "-0" || tok.length - (tok[0] === "-") > INT_MAX_STR_DIGITS ? -1 : j;
  const v = Number(tok); // a float: exactly as Python's repr writes it
  const repr = Object.is(v, -0) ? "-0.0" : pyFloat(v);
  return tok !== "" && repr === tok ? j : -1;
}

const WORDS = ["true", "false", "null", "NaN", "Infinity", "-Infinity"];

function scanWord(s, i) {
  for (const w of WORDS) if (s.startsWith(w, i)) return i + w.length;
  return -1;
}

/** Keys in Python's sort order (code points), each once. */
function keyAfter(prev, key) {
  if (prev === null) return true;
  if (prev.indexOf("\\") < 0 && key.indexOf("\\") < 0) return prev < key; // ASCII: UTF-16 order is code point order
  return byCodePoint(JSON.parse(prev), JSON.parse(key)) < 0;
}

function scanValue(s, i) {
  const c = s.charCodeAt(i);
  if (c === 0x22) return scanString(s, i);
  if (c === 0x7b || c === 0x5b) return scanContainer(s, i, c === 0x7b);
  if (c === 0x2d && s.charCodeAt(i + 1) === 0x49) return scanWord(s, i); // -Infinity
  if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return scanNumber(s, i);
  return scanWord(s, i);
}

function scanContainer(s, i, isObject) {
  const close = isObject ? 0x7d : 0x5d;
  i++;
  if (s.charCodeAt(i) === close) return i + 1;
  let prev = null;
  for (;;) {
    if (isObject) {
      if (s.charCodeAt(i) !== 0x22) return -1;
      const end = scanString(s, i);
      if (end < 0) return -1;
      const key = s.slice(i, end);
      if (!keyAfter(prev, key) || s.charCodeAt(end) !== 0x3a || s.charCodeAt(end + 1) !== 0x20) return -1;
      prev = key;
      i = end + 2;
    }
    i = scanValue(s, i);
    if (i < 0) return -1;
    const c = s.charCodeAt(i);
    if (c === close) return i + 1;
    if (c !== 0x2c || s.charCodeAt(i + 1) !== 0x20) return -1;
    i += 2;
  }
}

/**
 * Whether `text` is json.dumps(d, sort_keys=True) of the object d it parses
 * to (Python's defaults: ", " and ": ", ensure_ascii): the rule of format 2,
 * checked on the text with no parse and no re-encoding.
 */
export function isCanonicalDetails(text) {
  if (typeof text !== "string" || text.charCodeAt(0) !== 0x7b) return false;
  try {
    return scanContainer(text, 0, true) === text.length;
  } catch {
    return false; // nested beyond the stack
  }
}

// --- the chain v1 payload of a row, as bytes ------------------------------------------

const enc = new TextEncoder();
const PARTS = ['{"actor_id": ', ', "details": ', ', "event_type": ', ', "previous_hash": ', ', "sequence_number": ', ', "session_id": ', ', "timestamp": ', "}"].map((p) => enc.encode(p));
const NULL = enc.encode("null");
const HEX = enc.encode("0123456789abcdef");
const ESC = new Map([[0x22, 0x22], [0x5c, 0x5c], [0x0a, 0x6e], [0x0d, 0x72], [0x09, 0x74], [0x08, 0x62], [0x0c, 0x66]]);

/** json.dumps(s) (ensure_ascii) into buf at pos; returns the end. */
function putQuoted(buf, pos, s) {
  buf[pos++] = 0x22;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e && c !== 0x22 && c !== 0x5c) {
      buf[pos++] = c;
      continue;
    }
    const short = ESC.get(c);
    buf[pos++] = 0x5c;
    if (short !== undefined) {
      buf[pos++] = short;
    } else {
      buf[pos++] = 0x75;
      buf[pos++] = HEX[c >> 12];
      buf[pos++] = HEX[(c >> 8) & 15];
      buf[pos++] = HEX[(c >> 4) & 15];
      buf[pos++] = HEX[c & 15];
    }
  }
  buf[pos++] = 0x22;
  return pos;
}

function put(buf, pos, bytes) {
  buf.set(bytes, pos);
  return pos + bytes.length;
}

/** The most bytes row `r`'s payload can take, or -1 when a field is not of its type. */
function payloadSize(r) {
  if (!Array.isArray(r) || r.length !== 8) return -1;
  const [sid, seq, ts, type, actor, details, previous] = r;
  if (typeof sid !== "string" || !Number.isSafeInteger(seq) || typeof ts !== "string" || typeof type !== "string") return -1;
  if ((actor !== null && typeof actor !== "string") || typeof details !== "string" || typeof previous !== "string") return -1;
  return 6 * (sid.length + ts.length + type.length + (actor ? actor.length : 0) + details.length + previous.length) + 200;
}

/** Row `r`'s chain v1 payload into `b` from `p` (room checked by payloadSize); returns the end. */
function writeRow(r, b, p) {
  const [sid, seq, ts, type, actor, details, previous] = r;
  p = put(b, p, PARTS[0]);
  p = actor === null ? put(b, p, NULL) : putQuoted(b, p, actor);
  p = putQuoted(b, put(b, p, PARTS[1]), details);
  p = putQuoted(b, put(b, p, PARTS[2]), type);
  p = putQuoted(b, put(b, p, PARTS[3]), previous);
  p = put(b, p, PARTS[4]);
  const digits = String(seq);
  for (let i = 0; i < digits.length; i++) b[p++] = digits.charCodeAt(i);
  p = putQuoted(b, put(b, p, PARTS[5]), sid);
  p = putQuoted(b, put(b, p, PARTS[6]), ts);
  return put(b, p, PARTS[7]);
}

let payload = new Uint8Array(4096);

/**
 * SHA-256 of row `r`'s chain v1 payload into `out`; false when a field is not
 * of its type (the row then cannot be the entry its hash names).
 */
export function hashRow(r, out) {
  const most = payloadSize(r);
  if (most < 0) return false;
  if (most > payload.length) payload = new Uint8Array(most * 2);
  sha256Digest(payload, writeRow(r, payload, 0), out);
  return true;
}

/**
 * The payloads of rows[lo:hi], one after another, for a worker to hash:
 * {bytes, starts, ends} (ends[i] = -1: row lo + i has a field not of its type).
 */
export function writePayloads(rows, lo, hi) {
  const sizes = new Int32Array(hi - lo);
  let total = 0;
  for (let i = lo; i < hi; i++) total += Math.max(0, (sizes[i - lo] = payloadSize(rows[i])));
  const bytes = new Uint8Array(total);
  const starts = new Int32Array(hi - lo);
  const ends = new Int32Array(hi - lo);
  let p = 0;
  for (let i = lo; i < hi; i++) {
    starts[i - lo] = p;
    ends[i - lo] = sizes[i - lo] < 0 ? -1 : (p = writeRow(rows[i], bytes, p));
  }
  return { bytes, starts, ends };
}

// --- hashing in Web Workers -------------------------------------------------------------

// A classic worker from a blob: works from file:// and blob: module pages alike.
const WORKER = `const sha = (${makeSha256})();
const leafIn = new Uint8Array(33);
onmessage = ({ data: { id, bytes, starts, ends } }) => {
  const out = new Uint8Array(64 * ends.length); // per row: its hash, then its RFC 6962 leaf hash
  for (let i = 0; i < ends.length; i++) {
    if (ends[i] < 0) continue;
    const digest = out.subarray(64 * i, 64 * i + 32);
    sha(bytes.subarray(starts[i], ends[i]), ends[i] - starts[i], digest);
    leafIn.set(digest, 1);
    sha(leafIn, 33, out.subarray(64 * i + 32, 64 * i + 64));
  }
  postMessage({ id, out }, [out.buffer]);
};`;

/**
 * Workers that SHA-256 batches of payloads (writePayloads), and each hash's
 * Merkle leaf, while the page checks the chain in order: the hashing is most
 * of a row's cost, and it does not depend on the rows before. `open` gives
 * null where workers cannot start.
 */
export class HashPool {
  static open(n) {
    if (typeof Worker === "undefined" || n < 1) return null;
    let url = null;
    try {
      url = URL.createObjectURL(new Blob([WORKER], { type: "text/javascript" }));
      return new HashPool(Array.from({ length: n }, () => new Worker(url)), url);
    } catch {
      if (url) URL.revokeObjectURL(url);
      return null;
    }
  }

  constructor(workers, url) {
    this.workers = workers;
    this.url = url;
    this.turn = 0;
    this.ids = 0;
    this.waiting = new Map();
    for (const w of workers) {
      w.onmessage = ({ data }) => {
        const job = this.waiting.get(data.id);
        this.waiting.delete(data.id);
        job.resolve(data.out);
      };
      w.onerror = (ev) => {
        ev.preventDefault();
        for (const job of this.waiting.values()) job.reject(new Error("a hashing worker failed"));
        this.waiting.clear();
      };
    }
  }

  /** Resolves to each row's hash and leaf hash (64 bytes a row) of a batch (its bytes move to the worker). */
  hash({ bytes, starts, ends }) {
    const id = ++this.ids;
    const w = this.workers[this.turn++ % this.workers.length];
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      w.postMessage({ id, bytes, starts, ends }, [bytes.buffer]);
    });
  }

  close() {
    for (const w of this.workers) w.terminate();
    URL.revokeObjectURL(this.url);
  }
}

/** Whether `hex` is the lowercase hex of `digest`, compared in constant time. */
export function hexEquals(hex, digest) {
  if (typeof hex !== "string" || hex.length !== 2 * digest.length) return false;
  let diff = 0;
  for (let i = 0; i < digest.length; i++) {
    diff |= hex.charCodeAt(2 * i) ^ HEX[digest[i] >> 4];
    diff |= hex.charCodeAt(2 * i + 1) ^ HEX[digest[i] & 15];
  }
  return diff === 0;
}

// Bundle format 2 (docs/protocol.md section 4): each entry is the array of the
// eight fields chain v1 hashes, its details the canonical JSON text that was
// hashed. Verifying one is: check the text is canonical (a scan, no parse),
// write the chain v1 payload's bytes straight into a buffer, hash them. No
// JSON is re-encoded (chain.js's pyDumps is format 1's path).

import { byCodePoint, pyFloat, sha256Digest } from "./chain.js";

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

function scanNumber(s, i) {
  let j = i;
  NUMBER_CHAR.lastIndex = j;
  while (NUMBER_CHAR.test(s)) NUMBER_CHAR.lastIndex = ++j;
  const tok = s.slice(i, j);
  if (INTEGER.test(tok)) return tok === "-0" ? -1 : j; // any size: Python's int
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

let payload = new Uint8Array(4096);

/**
 * SHA-256 of row `r`'s chain v1 payload into `out`; false when a field is not
 * of its type (the row then cannot be the entry its hash names).
 */
export function hashRow(r, out) {
  const [sid, seq, ts, type, actor, details, previous] = r;
  if (typeof sid !== "string" || !Number.isSafeInteger(seq) || typeof ts !== "string" || typeof type !== "string") return false;
  if ((actor !== null && typeof actor !== "string") || typeof details !== "string" || typeof previous !== "string") return false;
  const most = 6 * (sid.length + ts.length + type.length + (actor ? actor.length : 0) + details.length + previous.length) + 200;
  if (most > payload.length) payload = new Uint8Array(most * 2);
  const b = payload;
  let p = put(b, 0, PARTS[0]);
  p = actor === null ? put(b, p, NULL) : putQuoted(b, p, actor);
  p = putQuoted(b, put(b, p, PARTS[1]), details);
  p = putQuoted(b, put(b, p, PARTS[2]), type);
  p = putQuoted(b, put(b, p, PARTS[3]), previous);
  p = put(b, p, PARTS[4]);
  const digits = String(seq);
  for (let i = 0; i < digits.length; i++) b[p++] = digits.charCodeAt(i);
  p = putQuoted(b, put(b, p, PARTS[5]), sid);
  p = putQuoted(b, put(b, p, PARTS[6]), ts);
  p = put(b, p, PARTS[7]);
  sha256Digest(b, p, out);
  return true;
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

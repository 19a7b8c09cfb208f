// The offline bundle verifier (docs/protocol.md section 4, "The bundle"), the
// browser twin of clients/_bundle.py: the verifier page (/verify) runs
// verifyBundle. Its findings are worded as the Python verifier words them, so
// the browser and `courtroom-client verify` name a failure alike.
//
// Format 2 rows (what export writes) are checked with rows.js (the canonical
// details text scanned, the payload written as bytes, no JSON re-encoded);
// format 1 objects with chain.js's encoder. A long format 2 bundle's payloads
// and leaves are hashed ahead in Web Workers (rows.js's HashPool) while the
// page checks each entry in order; three digests per entry (chain v1, leaf,
// node) cost less in plain JavaScript than WebCrypto's promise per call.

import { GENESIS_HASH, brokenSequence, entryPayload, entryProblem, hashesEqual, sha256Digest, toHex } from "./chain.js";
import { CompactRange, bytesEqual, fieldsMatch, isObject, keysFromDocument, leafFromBytes, parseNote, verifySignature } from "./record.js";
import { HashPool, hashRow, hexEquals, isCanonicalDetails, writePayloads } from "./rows.js";

export const BUNDLE_FORMAT = "courtroom-bundle/2"; // what export writes
export const BUNDLE_FORMATS = { "courtroom-bundle/1": 1, [BUNDLE_FORMAT]: 2 };
export const COMPLETED = "SESSION_COMPLETED";
const utf8 = new TextEncoder();

/** An entry's display fields, whichever format it came in (format 2: an array). */
export function entryFields(e) {
  if (Array.isArray(e)) return { sequence_number: e[1], timestamp: e[2], event_type: e[3], hash: e[7] };
  return e && typeof e === "object" ? e : {};
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

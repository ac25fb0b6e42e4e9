/**
 * Forging the store against the content digest: what broke the 32-bit murmur3
 * (four bytes appended to a changed line so that its hash matched, with the
 * key read from the audit's header) and a changed field whose digests the
 * attacker recomputed and wrote into the audit (under a guessed key, or none:
 * the real one is never in the run folder) both fail the store check.
 */

import assert from "node:assert/strict";
import { gunzipSync, gzipSync } from "node:zlib";
import { canonicalForm, randomAuditKey, sipHash128 } from "./digest.ts";
import { checkCompleteness } from "./completeness.ts";
import { checkObject, newFindings } from "./object_check.ts";
import { gz, linesOf, memoryStore, syntheticRun, TOPIC } from "./_synthetic.ts";
import { checkStore } from "./store_check.ts";
import { DIGEST_WORDS, TopicTable } from "./topic_table.ts";

// The digest this replaced: murmur3 over bytes, four to a block, keyed by a seed in the header.
const C1 = 0xcc9e2d51, C2 = 0x1b873593, C3 = 0xe6546b64;
const rotl = (x: number, r: number) => (x << r) | (x >>> (32 - r));
const tail = (k: number) => Math.imul(rotl(Math.imul(k, C1), 15), C2);
const round = (h: number, k: number) => (Math.imul(rotl(h ^ tail(k), 13), 5) + C3) | 0;
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
const word = (b: Uint8Array, i: number) =>
  b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24);
/** The state after the full blocks of `b` (no finalizer). */
function state(b: Uint8Array, seed: number): number {
  let h = seed | 0;
  for (let i = 0; i + 3 < b.length; i += 4) h = round(h, word(b, i));
  return h;
}
function murmur(b: Uint8Array, seed: number): number {
  let h = state(b, seed);
  const i = b.length & ~3;
  let k = 0;
  for (let s = 0; i + s / 8 < b.length; s += 8) k |= b[i + s / 8] << s;
  if (b.length & 3) h ^= tail(k);
  return fmix(h ^ b.length);
}
/** The multiplicative inverse of an odd 32-bit number. */
function inverse(c: number): number {
  let x = c;
  for (let i = 0; i < 5; i++) x = Math.imul(x, 2 - Math.imul(c, x));
  return x;
}
const rotr = (x: number, r: number) => (x >>> r) | (x << (32 - r));
/**
 * `line` (its length a multiple of 4) with four bytes appended so that its murmur3 under
 * `seed` is `target`: murmur3 is inverted block by block, the finalizer too.
 */
function appendFour(line: Uint8Array, target: number, seed: number): Uint8Array {
  const len = line.length + 4;
  let f = target | 0;
  f ^= f >>> 16;
  f = Math.imul(f, inverse(0xc2b2ae35));
  f ^= (f >>> 13) ^ (f >>> 26);
  f = Math.imul(f, inverse(0x85ebca6b));
  f ^= f >>> 16;
  const after = f ^ len;
  const t = rotr(Math.imul((after - C3) | 0, inverse(5)), 13) ^ state(line, seed);
  const k = Math.imul(rotr(Math.imul(t, inverse(C2)), 15), inverse(C1));
  const out = new Uint8Array(len);
  out.set(line);
  out.set([k & 255, (k >>> 8) & 255, (k >>> 16) & 255, (k >>> 24) & 255], line.length);
  return out;
}

const encoder = new TextEncoder();

function firstEventLine(run: ReturnType<typeof syntheticRun>) {
  const key = [...run.objects.keys()].find((k) => k.startsWith("events/"))!;
  const lines = linesOf(run.objects.get(key)!);
  const event = JSON.parse(lines[0]);
  return { key, lines, event, record: run.table.find(event.producer_id, event.seq) };
}

async function verdictOf(run: ReturnType<typeof syntheticRun>) {
  const stored = await checkStore(memoryStore(run.objects), TOPIC, run.table, { workers: 1 });
  return checkCompleteness(run.ledger, run.table, stored);
}

Deno.test("forgery: four bytes appended to a changed line (the murmur3 inversion) fail", async () => {
  const run = syntheticRun();
  const { key, lines, event, record } = firstEventLine(run);
  const original = encoder.encode(lines[0]);
  const seed = 0x5eed; // the old audit's header gave it away
  let forged: Uint8Array | undefined;
  for (let pad = 0; !forged; pad++) {
    // bytes_out changed; spaces pad it to whole blocks; the four bytes must hold no line break.
    let text = JSON.stringify({ ...event, bytes_out: event.bytes_out + 1_000_000 }) +
      " ".repeat(pad);
    while (text.length % 4) text += " ";
    const candidate = appendFour(encoder.encode(text), murmur(original, seed), seed);
    if (!candidate.subarray(-4).some((b) => b === 10 || b === 13)) forged = candidate;
  }
  // The attack is real: under the old digest the forged line was the record's bytes.
  assert.equal(murmur(forged, seed), murmur(original, seed));
  assert.notDeepEqual(forged, original);

  const f = newFindings();
  checkObject(key, gzipSync(forged), run.table, f);
  assert.equal(f.heldEvents[record], 1, "the line still names its record");
  assert.equal(f.counts.not_an_event + f.counts.altered, 1, JSON.stringify(f.counts));

  const rest = encoder.encode("\n" + lines.slice(1).join("\n") + "\n");
  const object = new Uint8Array(forged.length + rest.length);
  object.set(forged);
  object.set(rest, forged.length);
  run.objects.set(key, gzipSync(object)); // the forged bytes as they are
  const r = await verdictOf(run);
  assert.equal(r.verdict, "fail");
  assert.ok(r.not_an_event + r.altered >= 1, r.reasons.join("; "));
});

Deno.test("forgery: a changed field with its digests recomputed into the audit fails", async (t) => {
  const auditKey = randomAuditKey();
  for (
    const [guess, guessed] of [
      ["a guessed key", randomAuditKey()],
      ["no key (zeros)", new Uint8Array(32)],
    ] as const
  ) {
    await t.step(guess, async () => {
      const run = syntheticRun({ auditKey });
      const { key, lines, event, record } = firstEventLine(run);
      // Same length, valid JSON, another value: the attacker's line.
      const changed = { ...event, dst_port: event.dst_port === 443 ? 444 : 443 };
      const text = JSON.stringify(changed);
      assert.equal(text.length, lines[0].length);
      const bytes = encoder.encode(text);
      // The attacker rewrites the audit's columns for the record: its length and both digests,
      // computed under the key they guessed, and writes a valid gzip back.
      const raw = sipHash128(guessed.subarray(0, 16), bytes);
      const canon = sipHash128(guessed.subarray(16), canonicalForm(changed));
      const file = new Uint8Array(gunzipSync(run.table.encode()));
      const nl = file.indexOf(10);
      const n = run.table.size;
      // Columns: partition, offset, producer, seq, len, raw, canon, kind, next.
      const rawColumn = nl + 1 + n * (4 + 8 + 4 + 8 + 4);
      const digestBytes = 4 * DIGEST_WORDS;
      file.set(raw, rawColumn + record * digestBytes);
      file.set(canon, rawColumn + n * digestBytes + record * digestBytes);
      const table = TopicTable.decode(gzipSync(file), auditKey); // the run's key reads it back
      assert.deepEqual(
        new Uint8Array(table.data.raw.buffer, record * 16, 16),
        raw,
        "the attacker's digest is in the table",
      );
      run.table = table;
      run.objects.set(key, gz([text, ...lines.slice(1)]));
      const r = await verdictOf(run);
      assert.equal(r.verdict, "fail");
      assert.equal(r.altered, 1, r.reasons.join("; "));
      assert.match(r.samples.altered[0], /differs from the topic's record/);
    });
  }
});

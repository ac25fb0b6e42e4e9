/**
 * Fuzzing the check over a real run folder: no evidence crashes or hangs it.
 *
 * One real run (graded-smoke, its settle shortened) gives a sealed run folder and its
 * store; then a few hundred cases (deterministic, seed printed) each mutate one
 * evidence file (results.json, history.jsonl, ledger.json, deliveries.jsonl,
 * samples.jsonl, commits.jsonl, topic-audit.bin.gz) or one stored object:
 * truncations, bit flips, torn lines, extreme values (2^53-1, 1e308, -0,
 * "NaN", 1e16, negative times), wrong types, deep nesting, control characters
 * and terminal escapes, huge lines. The folder is sealed again with the key
 * (the seal would otherwise refuse any edit before the readers see it), and the
 * case runs in a worker (_fuzz_worker.ts) under a time bound: the seal, every
 * reader, the judging, the terminal lines and every report renderer. Every case
 * must end as pass/fail or a named error (exit 1, 2, or 3 for a vacuous
 * verdict or a named missing file): zero crashes, zero hangs.
 *
 * `CHAOS_FUZZ_RUN=<run folder>` reuses a run folder (sealed under `CHAOS_KEY_FILE`) instead of
 * making one; `CHAOS_FUZZ_SEED` and `CHAOS_FUZZ_CASES` change the draw.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { runDeno, slow } from "../compose/testing.ts";
import { serveStore } from "../compose/store_server.ts";
import { objectStore } from "../pipeline/store.ts";
import { readKeyFile } from "../lib/harness_key.ts";
import { resealRunFolder } from "../validate/seal.ts";
import type { FuzzReply, FuzzRequest } from "./_fuzz_worker.ts";

const SEED = Number(Deno.env.get("CHAOS_FUZZ_SEED") ?? 29);
const CASES = Number(Deno.env.get("CHAOS_FUZZ_CASES") ?? 300);
const CASE_TIMEOUT_MS = 20_000;
const FIRST_CASE_TIMEOUT_MS = 120_000;
const BASE_PORT = Deno.env.get("CHAOS_FUZZ_BASE_PORT") ?? Deno.env.get("CHAOS_RUN_BASE_PORT") ??
  "28400";

const TEXT_FILES = [
  "results.json",
  "history.jsonl",
  "ledger.json",
  "deliveries.jsonl",
  "samples.jsonl",
  "commits.jsonl",
] as const;
const AUDIT = "topic-audit.bin.gz";

/** mulberry32: a small deterministic PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const DEEP = "[".repeat(100_000) + "]".repeat(100_000);
/** Values a field can be given instead of its own (raw JSON text). */
const EXTREMES = [
  String(2 ** 53 - 1),
  "1e308",
  "-1e308",
  "1e400",
  "-0",
  '"NaN"',
  "1e16",
  "-1e16",
  "-1",
  "0.5",
  '"x"',
  "null",
  "true",
  "[]",
  "{}",
  '{"toString":1,"valueOf":2}',
  JSON.stringify("\u001b[2K\r\u001b[32mPASS\u0007\u202e"),
  JSON.stringify("a".repeat(1_000_000)),
  "[".repeat(5_000) + "]".repeat(5_000),
];

interface Case {
  label: string;
  file: string;
  bytes?: Uint8Array;
  object?: { key: string; bytes: Uint8Array };
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Every JSON scalar's place in `text` (start and end offsets), found by a token scan. */
function scalarSpans(text: string): [number, number][] {
  const spans: [number, number][] = [];
  const re = /"(?:[^"\\]|\\.)*"(?!\s*:)|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/g;
  for (const m of text.matchAll(re)) spans.push([m.index!, m.index! + m[0].length]);
  return spans;
}

/** One mutation of a text evidence file. */
function mutateText(text: string, rnd: () => number): [string, string] {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)];
  const lines = text.split("\n");
  const at = Math.floor(rnd() * Math.max(1, text.length));
  switch (Math.floor(rnd() * 10)) {
    case 0:
      return [`truncated at ${at}`, text.slice(0, at)];
    case 1: {
      const b = enc.encode(text);
      const i = Math.floor(rnd() * b.length);
      b[i] ^= 1 << Math.floor(rnd() * 8);
      return [`bit flip at byte ${i}`, dec.decode(b)];
    }
    case 2: {
      const body = text.trimEnd();
      const cut = 1 + Math.floor(rnd() * Math.min(40, body.length));
      return [`torn last line (-${cut})`, body.slice(0, body.length - cut)];
    }
    case 3: {
      const i = Math.floor(rnd() * lines.length);
      return [`line ${i + 1} doubled`, [...lines.slice(0, i + 1), ...lines.slice(i)].join("\n")];
    }
    case 4: {
      const i = Math.floor(rnd() * lines.length);
      return [`line ${i + 1} deleted`, [...lines.slice(0, i), ...lines.slice(i + 1)].join("\n")];
    }
    case 5:
    case 6:
    case 7: {
      const spans = scalarSpans(text);
      if (!spans.length) return ["wrong type at the root", "[]"];
      const [s, e] = pick(spans);
      const v = pick(EXTREMES);
      return [
        `${text.slice(s, e).slice(0, 30)} -> ${v.slice(0, 30)}`,
        text.slice(0, s) + v + text.slice(e),
      ];
    }
    case 8: {
      const root = pick(["[]", "null", "42", '"x"', "", DEEP, "\u0000\u001b[2J"]);
      return [`whole file ${JSON.stringify(root.slice(0, 12))}`, root];
    }
    default: {
      const i = Math.floor(rnd() * lines.length);
      const line = pick(['{"time":1}', DEEP, "\u001b]0;owned\u0007", '{"a":' + DEEP + "}"]);
      return [
        `line inserted at ${i + 1}`,
        [...lines.slice(0, i), line, ...lines.slice(i)].join("\n"),
      ];
    }
  }
}

/** One mutation of binary bytes (the gunzipped audit or a stored object's lines). */
function mutateBytes(b: Uint8Array, rnd: () => number): [string, Uint8Array] {
  const out = b.slice();
  switch (Math.floor(rnd() * 5)) {
    case 0: {
      const at = Math.floor(rnd() * out.length);
      return [`truncated at ${at}`, out.subarray(0, at)];
    }
    case 1: {
      const n = 1 + Math.floor(rnd() * 8);
      for (let k = 0; k < n; k++) out[Math.floor(rnd() * out.length)] ^= 1 << Math.floor(rnd() * 8);
      return [`${n} bit flips`, out];
    }
    case 2: {
      // A 4-byte word overwritten with a small index: a cycle where an index column is.
      const i = Math.floor(rnd() * Math.max(1, out.length - 4)) & ~3;
      new DataView(out.buffer, out.byteOffset).setInt32(i, Math.floor(rnd() * 4), true);
      return [`word at ${i} set to a small index`, out];
    }
    case 3: {
      const i = Math.floor(rnd() * Math.max(1, out.length - 4)) & ~3;
      new DataView(out.buffer, out.byteOffset).setInt32(
        i,
        [-1, 0x7fffffff, -(2 ** 31)][k3(rnd)],
        true,
      );
      return [`word at ${i} set to an extreme`, out];
    }
    default:
      return ["random bytes", crypto.getRandomValues(new Uint8Array(1 + Math.floor(rnd() * 4096)))];
  }
}
const k3 = (rnd: () => number) => Math.floor(rnd() * 3);

/** One mutation of a stored object (gzip NDJSON). */
function mutateObject(key: string, gz: Uint8Array, rnd: () => number): Case {
  const kind = Math.floor(rnd() * 4);
  if (kind === 0) {
    const [label, bytes] = mutateBytes(gz, rnd);
    return { label: `object ${key}: gzip ${label}`, file: key, object: { key, bytes } };
  }
  const text = dec.decode(gunzipSync(gz));
  if (kind === 1) {
    const huge = `{"producer_id":"${"x".repeat(16 * 1024 * 1024)}"}\n`;
    return {
      label: `object ${key}: one 16 MiB line`,
      file: key,
      object: { key, bytes: gzipSync(enc.encode(text + huge)) },
    };
  }
  if (kind === 2) {
    const [label, bytes] = mutateBytes(enc.encode(text), rnd);
    return {
      label: `object ${key}: lines ${label}`,
      file: key,
      object: { key, bytes: gzipSync(bytes) },
    };
  }
  const [label, mutated] = mutateText(text, rnd);
  return {
    label: `object ${key}: ${label}`,
    file: key,
    object: { key, bytes: gzipSync(enc.encode(mutated)) },
  };
}

/** The one run folder under `out`. */
function onlyRun(out: string): string {
  const [scenario] = [...Deno.readDirSync(out)].filter((e) => e.isDirectory);
  const runs = [...Deno.readDirSync(join(out, scenario.name))].filter((e) =>
    e.isDirectory && e.name !== "latest"
  );
  return join(out, scenario.name, runs[0].name);
}

/** The store the run kept, as bytes by key. */
async function keptObjects(runDir: string): Promise<KeptObjects> {
  const server = await serveStore(join(runDir, "stack", "minio"));
  try {
    const store = objectStore(server.s3);
    const objects = new Map<string, Uint8Array>();
    const listed = new Map<string, { last_modified_ms?: number; etag?: string }>();
    for (const prefix of ["events/", "dlq/"]) {
      for (const o of await store.list(prefix)) {
        objects.set(o.name, await store.getBytes(o.name));
        listed.set(o.name, { last_modified_ms: o.last_modified_ms, etag: o.etag });
      }
    }
    return { objects, listed };
  } finally {
    await server.stop();
  }
}

/** The kept store's objects, and their listing's times and ETags (the durability check reads them). */
interface KeptObjects {
  objects: Map<string, Uint8Array>;
  listed: Map<string, { last_modified_ms?: number; etag?: string }>;
}

/** Runs cases in a worker, one at a time; a case past its bound is a hang and the worker is replaced. */
class CaseRunner {
  #worker: Worker | null = null;
  #objects: [string, Uint8Array][];
  #listed: [string, { last_modified_ms?: number; etag?: string }][];
  constructor(kept: KeptObjects) {
    this.#objects = [...kept.objects];
    this.#listed = [...kept.listed];
  }
  async run(req: FuzzRequest, timeoutMs: number): Promise<FuzzReply | "hang"> {
    const fresh = !this.#worker;
    this.#worker ??= new Worker(new URL("./_fuzz_worker.ts", import.meta.url), { type: "module" });
    const worker = this.#worker;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await new Promise<FuzzReply | "hang">((resolve) => {
        timer = setTimeout(() => resolve("hang"), fresh ? FIRST_CASE_TIMEOUT_MS : timeoutMs);
        worker.onmessage = (e: MessageEvent<FuzzReply>) => resolve(e.data);
        worker.onerror = (e) => {
          e.preventDefault();
          resolve({ code: null, crash: `worker error: ${e.message}` });
        };
        worker.postMessage({
          ...req,
          ...(fresh ? { objects: this.#objects, listed: this.#listed } : {}),
        });
      }).then((r) => {
        if (r === "hang" || r.crash?.startsWith("worker error")) this.stop();
        return r;
      });
    } finally {
      clearTimeout(timer);
    }
  }
  stop(): void {
    this.#worker?.terminate();
    this.#worker = null;
  }
}

async function fuzz(runDir: string, key: Uint8Array): Promise<void> {
  const kept = await keptObjects(runDir);
  const objects = kept.objects;
  const work = await Deno.makeTempDir({ prefix: "fuzz-case-" });
  const runner = new CaseRunner(kept);
  try {
    const base = new Map<string, Uint8Array>();
    for (const e of Deno.readDirSync(runDir)) {
      if (!e.isFile) continue;
      const bytes = await Deno.readFile(join(runDir, e.name));
      base.set(e.name, bytes);
      await Deno.writeFile(join(work, e.name), bytes);
    }
    await resealRunFolder(work, key);
    const untouched = await runner.run({ dir: work, key }, CASE_TIMEOUT_MS);
    assert.notEqual(untouched, "hang");
    assert.equal((untouched as FuzzReply).crash, undefined, String((untouched as FuzzReply).crash));
    const { code, reasons } = untouched as FuzzReply;
    console.log(`fuzz: the untouched folder: exit ${code}`);
    const recorded = JSON.parse(await Deno.readTextFile(join(work, "results.json"))).verdict;
    assert.equal(
      code,
      recorded === "pass" ? 0 : 1,
      `the untouched folder re-checks as ${recorded}: ${reasons}`,
    );

    const rnd = prng(SEED);
    const keys = [...objects.keys()];
    const counts = new Map<string, number>();
    const crashes: string[] = [];
    const hangs: string[] = [];
    let slowest = { ms: 0, label: "" };
    console.log(`fuzz: seed ${SEED}, ${CASES} cases over ${runDir}`);
    for (let n = 0; n < CASES; n++) {
      const roll = rnd();
      let c: Case;
      if (roll < 0.12 && keys.length) {
        const k = keys[Math.floor(rnd() * keys.length)];
        c = mutateObject(k, objects.get(k)!, rnd);
      } else if (roll < 0.24 && base.has(AUDIT)) {
        const raw = gunzipSync(base.get(AUDIT)!);
        const [label, bytes] = rnd() < 0.2
          ? mutateBytes(base.get(AUDIT)!, rnd)
          : (([l, b]) => [l, gzipSync(b)] as [string, Uint8Array])(mutateBytes(raw, rnd));
        c = { label: `${AUDIT}: ${label}`, file: AUDIT, bytes };
      } else {
        const file = TEXT_FILES[Math.floor(rnd() * TEXT_FILES.length)];
        const [label, text] = mutateText(dec.decode(base.get(file) ?? new Uint8Array()), rnd);
        c = { label: `${file}: ${label}`, file, bytes: enc.encode(text) };
      }
      if (c.bytes) await Deno.writeFile(join(work, c.file), c.bytes);
      await resealRunFolder(work, key);
      const t0 = performance.now();
      const reply = await runner.run({
        dir: work,
        key,
        object: c.object,
        auditMutated: c.file === AUDIT,
      }, CASE_TIMEOUT_MS);
      const ms = performance.now() - t0;
      if (c.bytes) await Deno.writeFile(join(work, c.file), base.get(c.file) ?? new Uint8Array());
      if (ms > slowest.ms) slowest = { ms, label: c.label };
      const outcome = reply === "hang"
        ? "hang"
        : reply.crash !== undefined
        ? "crash"
        : `exit ${reply.code}${reply.message ? " (named)" : ""}`;
      counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
      if (outcome === "exit 3") {
        console.log(`fuzz: case ${n} ${c.label}: unknown (${reply !== "hang" && reply.reasons})`);
      }
      if (reply === "hang") hangs.push(`case ${n} ${c.label}`);
      else if (reply.crash !== undefined) {
        crashes.push(`case ${n} ${c.label}\n${reply.crash.split("\n").slice(0, 6).join("\n")}`);
      } else if (reply.message) {
        assert.match(
          reply.message,
          /\.(json|jsonl|gz)\b|evidence altered/,
          `${c.label}: ${reply.message}`,
        );
      }
    }
    await resealRunFolder(work, key);
    console.log(
      `fuzz: ${CASES} cases (seed ${SEED}): ${
        [...counts].sort().map(([k, v]) => `${k}: ${v}`).join(", ")
      }; slowest ${slowest.ms.toFixed(0)} ms (${slowest.label})`,
    );
    for (const c of crashes) console.log(`fuzz crash: ${c}`);
    for (const h of hangs) console.log(`fuzz hang: ${h}`);
    assert.equal(crashes.length, 0, `${crashes.length} crashes (first: ${crashes[0]})`);
    assert.equal(hangs.length, 0, `${hangs.length} hangs (first: ${hangs[0]})`);
  } finally {
    runner.stop();
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

Deno.test({
  name: "fuzz: no mutated evidence file or stored object crashes or hangs the check",
  ...slow,
}, async () => {
  const reuse = Deno.env.get("CHAOS_FUZZ_RUN");
  if (reuse) {
    await fuzz(reuse, readKeyFile(Deno.env.get("CHAOS_KEY_FILE")!));
    return;
  }
  const tmp = await Deno.makeTempDir({ prefix: "fuzz-run-" });
  try {
    const keyFile = join(tmp, "harness.key");
    await Deno.writeFile(keyFile, crypto.getRandomValues(new Uint8Array(32)), { mode: 0o600 });
    const out = join(tmp, "out");
    const res = await runDeno([
      "chaos/cli_scenario.ts",
      "graded-smoke",
      "--set",
      "checks.settle=30s",
      "--out",
      out,
    ], { CHAOS_KEY_FILE: keyFile, CHAOS_RUN_BASE_PORT: BASE_PORT });
    assert.ok(
      res.code === 0 || res.code === 1,
      `the run: exit ${res.code}\n${res.stdout}\n${res.stderr}`,
    );
    await fuzz(onlyRun(out), readKeyFile(keyFile));
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
});

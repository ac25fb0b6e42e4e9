import assert from "node:assert/strict";
import { join } from "node:path";
import {
  canonicalJson,
  checkSeal,
  decryptSecret,
  encryptSecret,
  keyId,
  resealRunFolder,
  SEAL_FILE,
  sealRunFolder,
  storeChanges,
} from "./seal.ts";

const key = (byte: number) => new Uint8Array(32).fill(byte);
const KEY = key(7);
const STORE = {
  bucket: "telemetry",
  prefixes: ["events/t/", "dlq/t/"],
  objects: [
    { name: "events/t/partition=0/part-0-1-2.ndjson.gz", size: 10, etag: "aa" },
    { name: "dlq/t/partition=0/part-0-1-2.jsonl.gz", size: 5, etag: "bb" },
  ],
};

/** A small run folder: evidence files, a log, and kept store data (not sealed). */
async function runFolder(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "seal-" });
  await Deno.writeTextFile(join(dir, "results.json"), '{"run_id":"r1","verdict":"fail"}');
  await Deno.writeTextFile(join(dir, "deliveries.jsonl"), '{"raw":"{}"}\n');
  await Deno.writeTextFile(join(dir, "ledger.json"), "{}");
  await Deno.mkdir(join(dir, "logs"));
  await Deno.writeTextFile(join(dir, "logs", "sink.log"), "started\n");
  await Deno.mkdir(join(dir, "stack", "minio"), { recursive: true });
  await Deno.writeTextFile(join(dir, "stack", "minio", "object"), "data");
  await sealRunFolder(dir, KEY, { runId: "r1", store: STORE, webhookSecret: "s3cret" });
  return dir;
}

async function withFolder(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await runFolder();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("checkSeal: an untouched folder checks, and gives back the store and the secret", () =>
  withFolder(async (dir) => {
    const check = await checkSeal(dir, KEY);
    assert.equal(check.ok, true);
    assert.equal(check.fingerprintOk, true);
    assert.deepEqual([check.altered, check.added, check.missing], [[], [], []]);
    assert.equal(check.runId, "r1");
    assert.equal(check.webhookSecret, "s3cret");
    assert.deepEqual(
      check.store?.objects.map((o) => o.name),
      STORE.objects.map((o) => o.name).sort(),
    );
    // The secret is not in the folder in clear.
    assert.doesNotMatch(await Deno.readTextFile(join(dir, SEAL_FILE)), /s3cret/);
  }));

Deno.test("checkSeal names each file edited, added or removed", async (t) => {
  for (const file of ["results.json", "deliveries.jsonl", "ledger.json", "logs/sink.log"]) {
    await t.step(`edited: ${file}`, () =>
      withFolder(async (dir) => {
        const text = await Deno.readTextFile(join(dir, file));
        await Deno.writeTextFile(join(dir, file), text.replace(/.$/s, " "));
        const check = await checkSeal(dir, KEY);
        assert.equal(check.ok, false);
        assert.deepEqual(check.altered, [file]);
        assert.deepEqual([check.added, check.missing], [[], []]);
      }));
    await t.step(`removed: ${file}`, () =>
      withFolder(async (dir) => {
        await Deno.remove(join(dir, file));
        const check = await checkSeal(dir, KEY);
        assert.equal(check.ok, false);
        assert.deepEqual(check.missing, [file]);
      }));
  }
  await t.step(
    "added: a file, a file in a new folder, a symbolic link",
    () =>
      withFolder(async (dir) => {
        await Deno.writeTextFile(join(dir, "history.jsonl"), "");
        await Deno.mkdir(join(dir, "extra"));
        await Deno.writeTextFile(join(dir, "extra", "x"), "x");
        await Deno.symlink("results.json", join(dir, "link"));
        const check = await checkSeal(dir, KEY);
        assert.equal(check.ok, false);
        assert.deepEqual(check.added.sort(), ["extra/x", "history.jsonl", "link"]);
      }),
  );
  await t.step(
    "a file replaced by a link to the same content: altered",
    () =>
      withFolder(async (dir) => {
        await Deno.rename(join(dir, "ledger.json"), join(dir, "stack", "ledger.json"));
        await Deno.symlink(join(dir, "stack", "ledger.json"), join(dir, "ledger.json"));
        assert.deepEqual((await checkSeal(dir, KEY)).altered, ["ledger.json"]);
      }),
  );
  await t.step("the kept store data under stack/ is not sealed", () =>
    withFolder(async (dir) => {
      await Deno.writeTextFile(join(dir, "stack", "minio", "object"), "other");
      assert.equal((await checkSeal(dir, KEY)).ok, true);
    }));
});

Deno.test("checkSeal: seal.json itself missing, edited or not JSON", async (t) => {
  await t.step("missing", () =>
    withFolder(async (dir) => {
      await Deno.remove(join(dir, SEAL_FILE));
      const check = await checkSeal(dir, KEY);
      assert.deepEqual([check.ok, check.missing], [false, [SEAL_FILE]]);
    }));
  const edits: [string, (seal: Record<string, unknown>) => unknown][] = [
    ["a file's digest recomputed", (s) => {
      const files = s.files as { path: string; sha256: string }[];
      files[0].sha256 = "0".repeat(64);
      return s;
    }],
    ["a file dropped from the manifest", (s) => ({
      ...s,
      files: (s.files as unknown[]).slice(1),
    })],
    ["the store list emptied", (s) => ({ ...s, store: { ...STORE, objects: [] } })],
    ["the run id changed", (s) => ({ ...s, run_id: "r2" })],
    ["the secret removed", (s) => ({ ...s, webhook_secret: null })],
    ["not a seal", () => [1, 2]],
  ];
  for (const [name, edit] of edits) {
    await t.step(name, () =>
      withFolder(async (dir) => {
        const path = join(dir, SEAL_FILE);
        await Deno.writeTextFile(
          path,
          JSON.stringify(edit(JSON.parse(await Deno.readTextFile(path)))),
        );
        const check = await checkSeal(dir, KEY);
        assert.deepEqual([check.ok, check.altered], [false, [SEAL_FILE]]);
        assert.equal(check.store, null, "nothing of an altered seal is trusted");
        assert.equal(check.webhookSecret, null);
      }));
  }
  await t.step("binary garbage", () =>
    withFolder(async (dir) => {
      await Deno.writeFile(join(dir, SEAL_FILE), new Uint8Array([0xff, 0, 0x7b, 0x22]));
      assert.deepEqual((await checkSeal(dir, KEY)).altered, [SEAL_FILE]);
    }));
});

Deno.test("checkSeal with another key: the fingerprint does not match, nothing else checked", () =>
  withFolder(async (dir) => {
    const check = await checkSeal(dir, key(8));
    assert.equal(check.ok, false);
    assert.equal(check.fingerprintOk, false);
    assert.equal(check.webhookSecret, null);
    assert.notEqual(keyId(KEY), keyId(key(8)));
    assert.equal(keyId(KEY).length, 16);
  }));

Deno.test("resealRunFolder seals an edited folder again, keeping the store and the secret", () =>
  withFolder(async (dir) => {
    await Deno.writeTextFile(join(dir, "ledger.json"), "[]");
    assert.equal((await checkSeal(dir, KEY)).ok, false);
    await resealRunFolder(dir, KEY);
    const check = await checkSeal(dir, KEY);
    assert.equal(check.ok, true);
    assert.equal(check.webhookSecret, "s3cret");
    assert.equal(check.store?.objects.length, 2);
    await assert.rejects(() => resealRunFolder(dir, key(9)), /does not verify/);
  }));

Deno.test("the webhook secret's box opens only with its key and run id", () => {
  const box = encryptSecret(KEY, "r1", "s3cret");
  assert.equal(decryptSecret(KEY, "r1", box), "s3cret");
  assert.throws(() => decryptSecret(KEY, "r2", box));
  assert.throws(() => decryptSecret(key(8), "r1", box));
  const flipped = {
    ...box,
    data: (parseInt(box.data[0], 16) ^ 1).toString(16) + box.data.slice(1),
  };
  assert.throws(() => decryptSecret(KEY, "r1", flipped));
});

Deno.test("canonicalJson sorts keys at every depth", () => {
  assert.equal(canonicalJson({ b: 1, a: [{ d: 2, c: null }] }), '{"a":[{"c":null,"d":2}],"b":1}');
  assert.equal(canonicalJson({ a: 1 }), canonicalJson({ a: 1, b: undefined }));
});

Deno.test("storeChanges names objects changed, added and removed", () => {
  const [events, dlq] = STORE.objects;
  assert.deepEqual(storeChanges(STORE, STORE.objects), []);
  assert.deepEqual(
    storeChanges(STORE, [{ ...events, etag: "cc" }, { name: "events/t/x", size: 1 }]),
    [
      `${events.name} changed (size 10 → 10, ETag aa → cc)`,
      `${dlq.name} removed`,
      "events/t/x added",
    ],
  );
  const many = Array.from({ length: 15 }, (_, i) => ({ name: `n${i}`, size: 1, etag: null }));
  const lines = storeChanges(STORE, [...STORE.objects, ...many], 10);
  assert.equal(lines.length, 11);
  assert.equal(lines[10], "and 5 more");
});

/**
 * The flagship end to end through the real commands, then a tamper matrix on
 * its kept run: the re-check of the untouched run passes, and each way the
 * delivery log or the store can be wrong (an alert doubled, unsigned, null or
 * conflicting; an object copied outside the layout, altered, stripped to ids,
 * with a doubled line, not gzip, with a line of another partition or a
 * fabricated event, deleted) turns it into a fail (exit 1), undone after each.
 * The run folder is sealed: each of its files edited, one added, one removed
 * fails the re-check naming the file before anything else is read; another
 * key is exit 2. The tampered deliveries are sealed again with the run's key
 * (as only its holder could) to reach the alert checks behind the seal.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { LocalStack } from "../compose/local_stack.ts";
import { runDeno, slow } from "../compose/testing.ts";
import { type ObjectStore, objectStore } from "../pipeline/store.ts";
import { gz, linesOf } from "../validate/_synthetic.ts";
import type { Results } from "../validate/results.ts";
import { parseSamples } from "../validate/samples.ts";
import { sign } from "../pipeline/alert.ts";
import { readKeyFile } from "../lib/harness_key.ts";
import { checkSeal, resealRunFolder, SEAL_FILE } from "../validate/seal.ts";

const task = (args: string[]) => runDeno(args);
// A line of deliveries.jsonl, edited freely by the tampering below.
// deno-lint-ignore no-explicit-any
type Json = any;

Deno.test(
  { name: "flagship passes; every tampering of its deliveries and store fails", ...slow },
  async (t) => {
    const out = await Deno.makeTempDir({ prefix: "flagship-" });
    // A key of the test's own: the run seals with it, the re-checks read it (never the real one).
    const keyDir = await Deno.makeTempDir({ prefix: "flagship-key-" });
    const keyFile = join(keyDir, "harness.key");
    const realKeyFile = Deno.env.get("CHAOS_KEY_FILE");
    Deno.env.set("CHAOS_KEY_FILE", keyFile);
    let runId: string | undefined;
    try {
      let runDir = "";
      await t.step("deno task scenario exfil-under-broker-loss: pass", async () => {
        const res = await task([
          "chaos/cli_scenario.ts",
          "exfil-under-broker-loss",
          "--keep-stack",
          "--json",
          "--out",
          out,
        ]);
        console.log(res.stderr.slice(-1500));
        runDir = join(out, "exfil-under-broker-loss", "latest");
        const results = JSON.parse(
          await Deno.readTextFile(join(runDir, "results.json")),
        ) as Results;
        runId = results.run_id;
        assert.equal(res.code, 0, `${res.stdout.slice(-2000)}\n${res.stderr.slice(-2000)}`);
        // --json: stdout is the verdict object, the same as results.json; the summary is on stderr.
        let verdict: unknown;
        try {
          verdict = JSON.parse(res.stdout);
        } catch (error) {
          throw new Error(
            `--json's stdout is not one JSON object (${error}); its end:\n` +
              res.stdout.slice(-3000),
          );
        }
        assert.deepEqual(verdict, results);
        assert.equal(results.schema_version, 2);
        assert.match(res.stderr, /exfil-under-broker-loss: PASS/);
        assert.equal(results.verdict, "pass");
        assert.equal(results.completeness?.lost, 0);
        assert.equal(results.completeness?.duplicates, 0);
        assert.equal(results.alerts?.matched, 2);
        assert.equal(results.alerts?.false_positives, 0);
        assert.ok(
          results.faults.every((f) => f.observed && f.healed_at),
          "the kill was observed and healed",
        );
        // Kafka's health was sampled: the kill shrank ISRs, and they were whole again after the heal.
        const samples = parseSamples(await Deno.readTextFile(join(runDir, "samples.jsonl")));
        const kill = results.faults[0];
        assert.ok(
          samples.some((x) => x.t >= kill.injected_at! && (x.under_replicated ?? 0) > 0),
          "under-replicated partitions seen during the kill",
        );
        assert.ok(
          samples.some((x) => x.t > kill.healed_at! && x.under_replicated === 0),
          "every partition in sync again after the heal",
        );
        for (
          const f of ["history.jsonl", "report.md", "junit.xml", "ledger.json", "deliveries.jsonl"]
        ) {
          await Deno.stat(join(runDir, f));
        }
      });

      await t.step("validate --run re-checks the kept run: pass", async () => {
        const res = await task(["validate/cli_validate.ts", "--run", runDir]);
        assert.equal(res.code, 0, res.stdout + res.stderr);
      });

      // The seal: every file of the run folder, edited in turn, fails the re-check naming it.
      const key = readKeyFile(keyFile);
      const sealed = await checkSeal(runDir, key);
      assert.ok(sealed.ok, "the run sealed its folder");
      const files = JSON.parse(await Deno.readTextFile(join(runDir, SEAL_FILE))).files
        .map((f: { path: string }) => f.path) as string[];
      for (const f of ["results.json", "history.jsonl", "ledger.json", "deliveries.jsonl"]) {
        assert.ok(files.includes(f), `${f} is sealed (${files.join(", ")})`);
      }
      const sealFails = async (what: RegExp) => {
        const res = await task(["validate/cli_validate.ts", "--run", runDir]);
        assert.equal(res.code, 1, res.stdout + res.stderr);
        assert.match(res.stdout, what);
        assert.doesNotMatch(res.stdout, /completeness/, "nothing else was trusted");
      };
      await t.step(`sealed: each of ${files.length} files edited fails, naming it`, async () => {
        for (const f of [...files, SEAL_FILE]) {
          const path = join(runDir, f);
          const original = await Deno.readFile(path);
          const edited = original.slice();
          edited[Math.floor(edited.length / 2)] ^= 1;
          await Deno.writeFile(path, edited);
          try {
            const name = f.replace(/[.]/g, "[.]");
            await sealFails(new RegExp(`evidence altered: ${name}$`, "m"));
          } finally {
            await Deno.writeFile(path, original);
          }
        }
      });
      await t.step("sealed: a file added, a file removed, seal.json removed fail", async () => {
        await Deno.writeTextFile(join(runDir, "extra.jsonl"), "{}\n");
        try {
          await sealFails(/evidence added: extra[.]jsonl/);
        } finally {
          await Deno.remove(join(runDir, "extra.jsonl"));
        }
        await Deno.rename(join(runDir, "history.jsonl"), join(out, "history.jsonl"));
        try {
          await sealFails(/evidence missing: history[.]jsonl/);
        } finally {
          await Deno.rename(join(out, "history.jsonl"), join(runDir, "history.jsonl"));
        }
        await Deno.rename(join(runDir, SEAL_FILE), join(out, SEAL_FILE));
        try {
          await sealFails(/evidence altered: seal[.]json missing/);
          const old = await task(["validate/cli_validate.ts", "--run", runDir, "--unsealed"]);
          assert.equal(old.code, 1, "a run of this version without a seal is never trusted");
        } finally {
          await Deno.rename(join(out, SEAL_FILE), join(runDir, SEAL_FILE));
        }
      });
      await t.step("sealed: another --key is exit 2; the right one passes", async () => {
        const other = join(keyDir, "other.key");
        await Deno.writeFile(other, new Uint8Array(32).fill(1), { mode: 0o600 });
        const res = await task(["validate/cli_validate.ts", "--run", runDir, "--key", other]);
        assert.equal(res.code, 2, res.stdout + res.stderr);
        assert.match(res.stderr, /sealed with another key; give it with --key FILE/);
        const none = await runDeno(["validate/cli_validate.ts", "--run", runDir], {
          CHAOS_KEY_FILE: join(keyDir, "none.key"),
        });
        assert.equal(none.code, 2, none.stdout + none.stderr);
        assert.match(none.stderr, /no harness key here/);
        const right = await task(["validate/cli_validate.ts", "--run", runDir, "--key", keyFile]);
        assert.equal(right.code, 0, right.stdout + right.stderr);
      });

      // The tamper matrix: each way a delivery log or a store can be wrong, applied to the kept
      // run and undone again; every one must turn the re-check into a fail (exit 1).
      const recheck = async (expect: RegExp) => {
        const res = await task(["validate/cli_validate.ts", "--run", runDir]);
        assert.equal(res.code, 1, res.stdout + res.stderr);
        assert.match(res.stdout, expect);
      };
      const deliveriesFile = join(runDir, "deliveries.jsonl");
      // Each kept delivery with its body parsed; edited, then signed again with the run's secret
      // (a forged one, `forged: true`, with a signature that does not verify) and sealed again.
      const tamperDeliveries = (
        name: string,
        edit: (lines: Json[]) => Json[],
        expect: RegExp,
      ) =>
        t.step(`tampered deliveries fail: ${name}`, async () => {
          const original = await Deno.readTextFile(deliveriesFile);
          const lines = original.split("\n").filter(Boolean).map((l) => JSON.parse(l))
            .map((d) => ({ ...d, body: JSON.parse(d.raw) }));
          const signed = edit(lines).map(({ body, forged, ...d }) => {
            const raw = JSON.stringify(body);
            const signature = forged ? "00".repeat(32) : sign(raw, sealed.webhookSecret!);
            return JSON.stringify({ ...d, raw, signature });
          });
          await Deno.writeTextFile(deliveriesFile, signed.join("\n") + "\n");
          await resealRunFolder(runDir, key);
          try {
            await recheck(expect);
          } finally {
            await Deno.writeTextFile(deliveriesFile, original);
            await resealRunFolder(runDir, key);
          }
        });
      await tamperDeliveries("an incident alerted twice under a new alert_id", (l) => {
        const again = structuredClone(l[0]);
        again.body.alert_id = "doubled-" + again.body.alert_id;
        again.idempotency_key = again.body.alert_id; // as a real second alert would say
        return [...l, again];
      }, /duplicated 1/);
      await tamperDeliveries(
        "every signature failing (whatever signature_ok says)",
        (l) => l.map((d) => ({ ...d, signature_ok: true, forged: true })),
        /unsigned [1-9]/,
      );
      await tamperDeliveries(
        "a delivery whose body is null",
        (l) => [...l, { ...l[0], body: null }],
        /malformed 1/,
      );
      await tamperDeliveries(
        "one alert_id delivered with another window",
        // The next window of the same size (a plausible claim, but not the one first delivered).
        (l) => [...l, {
          ...l[0],
          body: {
            ...l[0].body,
            window_start_ms: l[0].body.window_start_ms + 10_000,
            window_end_ms: l[0].body.window_end_ms + 10_000,
          },
        }],
        /conflicting 1/,
      );

      const stack = () => LocalStack.attach(runId!).then((s) => objectStore(s!.endpoints.s3));
      const tamperStore = (
        name: string,
        edit: (store: ObjectStore, key: string, lines: string[]) => Promise<void>,
        expect: RegExp,
      ) =>
        t.step(`tampered store fails: ${name}`, async () => {
          const store = await stack();
          const keys = (await store.list("events/network-telemetry/")).map((o) => o.name);
          const key = keys[Math.floor(keys.length / 3)];
          const original = await store.getBytes(key);
          const before = new Set(keys);
          try {
            await edit(store, key, linesOf(original));
            await recheck(expect);
          } finally {
            await store.putBytes(key, original, "application/x-ndjson");
            for (const prefix of ["events/", "dlq/"]) {
              for (const o of await store.list(prefix)) {
                if (!before.has(o.name) && o.name.startsWith("events/")) {
                  await store.client.removeObject(store.bucket, o.name);
                }
              }
            }
          }
        });
      const put = (store: ObjectStore, key: string, lines: string[]) =>
        store.putBytes(key, gz(lines), "application/x-ndjson");
      await tamperStore(
        "an object copied under a name outside the layout",
        (store, key, l) => put(store, key.replace("part-", "backup-part-"), l),
        /foreign objects/,
      );
      await tamperStore("one field of one event changed", (store, key, l) => {
        const e = JSON.parse(l[7]);
        e.bytes_out += 1;
        return put(store, key, [...l.slice(0, 7), JSON.stringify(e), ...l.slice(8)]);
      }, /altered 1/);
      await tamperStore("only producer_id and seq stored", (store, key, l) =>
        put(
          store,
          key,
          l.map((x) => {
            const e = JSON.parse(x);
            return JSON.stringify({ producer_id: e.producer_id, seq: e.seq });
          }),
        ), /not valid events/);
      await tamperStore(
        "a line duplicated inside an object",
        (store, key, l) => put(store, key, [...l, l[0]]),
        /duplicates 1/,
      );
      await tamperStore(
        "an object that is not gzip",
        (store, key) => store.putBytes(key, new TextEncoder().encode("{}"), "application/x-ndjson"),
        /could not be read/,
      );
      await tamperStore("a line of another partition moved in", async (store, key, l) => {
        const others = (await store.list("events/network-telemetry/")).map((o) => o.name)
          .filter((k) => !k.includes(key.split("/")[2]));
        const stranger = linesOf(await store.getBytes(others[0]))[0];
        await put(store, key, [...l, stranger]);
      }, /outside the offset range/);
      await tamperStore(
        "an event fabricated",
        (store, key, l) =>
          put(store, key, [...l, JSON.stringify({ ...JSON.parse(l[0]), seq: 1e9 })]),
        /unexpected 1/,
      );

      await t.step("the untouched run still passes after the tampering was undone", async () => {
        // An object put back with its own bytes has the ETag the run saw before its commits: its
        // content is as durable as it was (commits.jsonl dates content by its first listing).
        const res = await task(["validate/cli_validate.ts", "--run", runDir]);
        assert.equal(res.code, 0, res.stdout + res.stderr);
      });

      await t.step(
        "negative control: one events/ object deleted fails, naming the seqs",
        async () => {
          const stack = (await LocalStack.attach(runId!))!;
          const store = objectStore(stack.endpoints.s3);
          const objects = await store.list("events/network-telemetry/");
          await store.client.removeObject(
            store.bucket,
            objects[Math.floor(objects.length / 2)].name,
          );
          const res = await task(["validate/cli_validate.ts", "--run", runDir]);
          assert.equal(res.code, 1, res.stdout + res.stderr);
          assert.match(res.stdout, /by the sink [1-9]/);
          assert.match(res.stdout, /missing .*-w\d: \d+/);
        },
      );
    } finally {
      if (runId) await (await LocalStack.attach(runId))?.down();
      await Deno.remove(out, { recursive: true }).catch(() => {});
      await Deno.remove(keyDir, { recursive: true }).catch(() => {});
      if (realKeyFile === undefined) Deno.env.delete("CHAOS_KEY_FILE");
      else Deno.env.set("CHAOS_KEY_FILE", realKeyFile);
    }
  },
);

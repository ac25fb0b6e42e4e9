/**
 * `deno task validate --run` on a run folder whose stack is gone: the
 * evidence the run kept (settings, ledger, topic audit, the MinIO data in
 * `stack/minio`) is enough to re-check it. Untouched it passes; a tampered
 * object fails (exit 1); a folder without an audit is exit 3, not a crash;
 * a folder that is not a run is exit 2. The folder is sealed as a run seals
 * it (with a key of the test's own): an object changed since the seal is named
 * ("store changed since the run"); an unsealed folder of an older harness
 * is re-checked only with --unsealed. A re-check never upgrades the recorded
 * verdict: a run that recorded fail re-checks PASS and still exits 1.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { serveStore } from "../compose/store_server.ts";
import { runDeno, slow } from "../compose/testing.ts";
import { objectStore } from "../pipeline/store.ts";
import { gz, linesOf, syntheticRun } from "./_synthetic.ts";
import { AUDIT_FILE } from "./evidence.ts";
import { loadHarnessKey } from "../lib/harness_key.ts";
import { auditKey } from "./digest.ts";
import { resealRunFolder, SEAL_FILE, sealRunFolder } from "./seal.ts";

async function keptRun(dir: string, topic: string) {
  const runId = `synthetic-${crypto.randomUUID().slice(0, 8)}`;
  // The audit is keyed as a run keys it: the harness's key (the test's own) and the run id.
  const run = syntheticRun({ malformedEvery: 29, auditKey: auditKey(loadHarnessKey(), runId) });
  await Deno.writeTextFile(
    join(dir, "results.json"),
    JSON.stringify({
      scenario: "synthetic",
      run_id: runId,
      verdict: "pass",
      settings: {
        min_acked: 1,
        max_duplicates: 0,
        max_unknown_share: 0.1,
        alerts: false,
        probes: [],
        target_eps: 1,
        recovery_within_ms: null,
      },
      faults: [],
      workload: { started_at: null, ended_at: null },
    }),
  );
  await Deno.writeTextFile(join(dir, "ledger.json"), JSON.stringify(run.ledger));
  await Deno.writeFile(join(dir, AUDIT_FILE), run.table.encode());
  const data = join(dir, "stack", "minio");
  await Deno.mkdir(data, { recursive: true });
  const server = await serveStore(data);
  try {
    const store = objectStore(server.s3);
    await store.client.makeBucket(store.bucket);
    for (const [key, bytes] of run.objects) {
      // The synthetic topic is "t"; the re-check reads --topic t.
      await store.putBytes(key, bytes, "application/gzip");
    }
    const prefixes = [`events/${topic}/`, `dlq/${topic}/`];
    const objects = (await Promise.all(prefixes.map((p) => store.list(p)))).flat()
      .map((o) => ({ name: o.name, size: o.size, etag: o.etag ?? null }));
    const results = JSON.parse(await Deno.readTextFile(join(dir, "results.json")));
    await sealRunFolder(dir, loadHarnessKey(), {
      runId: results.run_id,
      store: { bucket: store.bucket, prefixes, objects },
    });
  } finally {
    await server.stop();
  }
  return { run, data, topic };
}

Deno.test({ name: "validate --run re-checks a run from what it kept", ...slow }, async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "validate-run-" });
  const keyDir = await Deno.makeTempDir({ prefix: "validate-key-" });
  const realKeyFile = Deno.env.get("CHAOS_KEY_FILE");
  Deno.env.set("CHAOS_KEY_FILE", join(keyDir, "harness.key")); // the re-checks inherit it
  try {
    const { run, data } = await keptRun(dir, "t");
    const validate = () => runDeno(["validate/cli_validate.ts", "--run", dir, "--topic", "t"]);

    await t.step("untouched: pass, exit 0", async () => {
      const res = await validate();
      assert.equal(res.code, 0, res.stdout + res.stderr);
      assert.match(res.stdout, /PASS \(recorded: pass\)/);
    });

    await t.step("recorded fail, re-checked pass: both printed, exit 1 (never 0)", async () => {
      const file = join(dir, "results.json");
      const original = await Deno.readTextFile(file);
      await Deno.writeTextFile(file, JSON.stringify({ ...JSON.parse(original), verdict: "fail" }));
      await resealRunFolder(dir, loadHarnessKey()); // as if the run itself had recorded it
      try {
        const res = await validate();
        assert.equal(res.code, 1, res.stdout + res.stderr);
        assert.match(res.stdout, /PASS \(recorded: fail\)/);
        assert.match(
          res.stdout,
          /recorded FAIL, re-checked PASS; the worse stands: FAIL \(exit 1\)/,
        );
      } finally {
        await Deno.writeTextFile(file, original);
        await resealRunFolder(dir, loadHarnessKey());
      }
      const res = await validate();
      assert.equal(res.code, 0, res.stdout + res.stderr);
      assert.doesNotMatch(res.stdout, /the worse stands/);
    });

    await t.step("one line altered: fail, exit 1", async () => {
      const key = [...run.objects.keys()].find((k) => k.startsWith("events/"))!;
      const lines = linesOf(run.objects.get(key)!);
      const e = JSON.parse(lines[2]);
      e.dst_port = (e.dst_port + 1) % 65536;
      const server = await serveStore(data);
      try {
        await objectStore(server.s3).putBytes(
          key,
          gz([...lines.slice(0, 2), JSON.stringify(e), ...lines.slice(3)]),
          "application/gzip",
        );
      } finally {
        await server.stop();
      }
      const res = await validate();
      assert.equal(res.code, 1, res.stdout + res.stderr);
      assert.match(res.stdout, /altered 1/);
      assert.match(res.stdout, /store changed since the run: events\/t\/.* changed/);
    });

    await t.step(
      "unsealed: exit 1; an older run's folder with --unsealed is re-checked",
      async () => {
        await Deno.rename(join(dir, SEAL_FILE), join(keyDir, SEAL_FILE));
        try {
          const res = await validate();
          assert.equal(res.code, 1, res.stdout + res.stderr);
          assert.match(res.stdout, /evidence altered: seal\.json missing/);
          const old = await runDeno([
            "validate/cli_validate.ts",
            "--run",
            dir,
            "--topic",
            "t",
            "--unsealed",
          ]);
          assert.equal(old.code, 1, old.stdout + old.stderr); // the altered line above
          assert.match(old.stdout, /unsealed \(--unsealed\)/);
          assert.match(old.stdout, /altered 1/);
        } finally {
          await Deno.rename(join(keyDir, SEAL_FILE), join(dir, SEAL_FILE));
        }
      },
    );

    await t.step("no topic audit kept: exit 1, naming it (nothing else is read)", async () => {
      await Deno.rename(join(dir, AUDIT_FILE), join(keyDir, "moved"));
      const res = await validate();
      await Deno.rename(join(keyDir, "moved"), join(dir, AUDIT_FILE));
      assert.equal(res.code, 1, res.stdout + res.stderr);
      assert.match(res.stdout, /evidence missing: topic-audit\.bin\.gz/);
    });

    await t.step("Ctrl-C: the MinIO it started is gone", async () => {
      const minio = () =>
        new Deno.Command("pgrep", { args: ["-f", data], stdout: "piped" }).output()
          .then((o) => new TextDecoder().decode(o.stdout).trim());
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "validate/cli_validate.ts", "--run", dir, "--topic", "t"],
        cwd: new URL("..", import.meta.url),
        stdout: "null",
        stderr: "null",
      }).spawn();
      const t0 = Date.now();
      while (!(await minio()) && Date.now() - t0 < 20_000) {
        await new Promise((r) => setTimeout(r, 50));
      }
      child.kill("SIGINT");
      const { code } = await child.status;
      // Interrupted (3), or done just before the signal (1: the store was tampered above).
      console.log(`validate --run after SIGINT: exit ${code}`);
      assert.ok(code === 3 || code === 1, `exit ${code}`);
      assert.equal(await minio(), "", "no MinIO of the re-check is left");
    });

    await t.step("not a run folder: exit 2", async () => {
      const res = await runDeno(["validate/cli_validate.ts", "--run", join(dir, "stack")]);
      assert.equal(res.code, 2, res.stdout + res.stderr);
    });
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    await Deno.remove(keyDir, { recursive: true }).catch(() => {});
    if (realKeyFile === undefined) Deno.env.delete("CHAOS_KEY_FILE");
    else Deno.env.set("CHAOS_KEY_FILE", realKeyFile);
  }
});

/**
 * `--stack external` on a cluster that asks for SASL/PLAIN on its client
 * listener (a local stack started with those broker settings): the endpoints
 * file's `kafka.sasl` secures every Kafka client of the run (the harness's
 * admin, generator and audit, Kafka's own tools, and the sink and detector
 * through the contract's `KAFKA_SASL_*`), so a run with latency on a leader,
 * then on the controller (found with Kafka's own tool) passes. A wrong password is refused by the cluster (exit 3, nothing
 * run), and the password is in no file of the run folder.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { nodesOf } from "../compose/cli_up.ts";
import { LocalStack } from "../compose/local_stack.ts";
import { provision } from "../compose/provision.ts";
import { runDeno, slow } from "../compose/testing.ts";
import { randomHex } from "../lib/ids.ts";
import type { Results } from "../validate/results.ts";

const SCENARIO = "chaos/testdata/sasl-latency.json";
const BASE = Number(Deno.env.get("CHAOS_SASL_BASE_PORT") ?? 28000);

/** Every file under `dir` that contains `text`. */
async function filesContaining(dir: string, text: string): Promise<string[]> {
  const found: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const path = join(dir, e.name);
    if (e.isDirectory) found.push(...await filesContaining(path, text));
    else if (e.isFile && new TextDecoder().decode(await Deno.readFile(path)).includes(text)) {
      found.push(path);
    }
  }
  return found;
}

Deno.test(
  { name: "external stack with SASL/PLAIN: every client authenticates", ...slow },
  async () => {
    const password = randomHex(12);
    const credentials = {
      KAFKA_SASL_MECHANISM: "PLAIN",
      KAFKA_SASL_USERNAME: "chaos",
      KAFKA_SASL_PASSWORD: password,
    };
    // The stack's own health checks are clients too: they authenticate while it starts.
    for (const [k, v] of Object.entries(credentials)) Deno.env.set(k, v);
    const dir = await Deno.makeTempDir({ prefix: "chaos-sasl-test-" });
    let stack: LocalStack | undefined;
    try {
      stack = await LocalStack.up({
        name: `sasl-${Deno.pid}`,
        basePort: BASE,
        binaries: await provision(),
        owner: "process",
        dataDir: join(dir, "stack"),
        // PLAINTEXT and no authorizer: the PLAIN listener below is this cluster's own security.
        scram: false,
        kafka: {
          overrides: {
            "listener.security.protocol.map":
              "CLIENT:SASL_PLAINTEXT,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "sasl.enabled.mechanisms": "PLAIN",
            "listener.name.client.plain.sasl.jaas.config":
              `org.apache.kafka.common.security.plain.PlainLoginModule required user_chaos="${password}";`,
          },
        },
      });
      for (const k of Object.keys(credentials)) Deno.env.delete(k);
      const file = { ...stack.endpoints, nodes: nodesOf(stack) };
      const endpoints = join(dir, "endpoints.json");
      const wrong = join(dir, "wrong.json");
      await Deno.writeTextFile(
        endpoints,
        JSON.stringify({
          ...file,
          kafka: { ...file.kafka, sasl: { mechanism: "PLAIN", username: "chaos", password } },
        }),
      );
      await Deno.writeTextFile(
        wrong,
        JSON.stringify({
          ...file,
          kafka: {
            ...file.kafka,
            sasl: { mechanism: "PLAIN", username: "chaos", password: "nope" },
          },
        }),
      );
      const out = join(dir, "runs");
      let r = await runDeno([
        "chaos/cli_scenario.ts",
        SCENARIO,
        "--stack",
        "external",
        "--endpoints",
        wrong,
        "--out",
        out,
      ]);
      assert.equal(r.code, 3, r.stderr.slice(-2000));
      assert.match(r.stderr, /no Kafka broker answers/);

      r = await runDeno([
        "chaos/cli_scenario.ts",
        ...[SCENARIO, "--stack", "external", "--endpoints", endpoints, "--out", out, "--json"],
      ]);
      assert.equal(r.code, 0, r.stdout.slice(-3000) + r.stderr.slice(-3000));
      const results = JSON.parse(r.stdout) as Results;
      assert.equal(results.verdict, "pass");
      assert.equal(results.completeness?.lost, 0);
      assert.equal(results.alerts?.matched, 1);
      // The controller is found with Kafka's own tool, which authenticates too (--command-config).
      assert.deepEqual(results.faults.map((f) => f.observed), [true, true]);
      assert.deepEqual(await filesContaining(out, password), [], "the password is in no run file");
    } finally {
      for (const k of Object.keys(credentials)) Deno.env.delete(k);
      await stack?.down({ quiet: true });
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);

/**
 * No secret of a local stack's on any command line while it starts and runs (every user of the
 * host reads every process's in `ps`): StorageTool's SCRAM users come from an argument file
 * (kafka_scram.ts), Redis's users from its ACL file, MinIO's keys from its environment. The stack
 * runs its S3 and kafka proxies too. (The components: chaos/components_secrets_test.ts.)
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { LocalStack } from "./local_stack.ts";
import { slow } from "./testing.ts";
import { javaArgFile } from "./kafka_scram.ts";

/** Every process's command line now, by pid (arguments joined by spaces). */
function commandLines(): Map<number, string> {
  const out = new Map<number, string>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const raw = Deno.readFileSync(`/proc/${entry.name}/cmdline`);
      out.set(Number(entry.name), new TextDecoder().decode(raw).split("\0").join(" ").trim());
    } catch { /* gone */ }
  }
  return out;
}

/** The command lines seen (distinct) that hold one of `secrets`. */
function exposing(lines: Iterable<string>, secrets: readonly string[]): string[] {
  return [...lines].filter((line) => secrets.some((s) => line.includes(s)));
}

Deno.test("javaArgFile(): one quoted argument a line; a quote or line break is refused", () => {
  assert.equal(
    javaArgFile([
      "-cp",
      "/a b/x.jar:/c\\d",
      "Main",
      "--add-scram",
      "SCRAM-SHA-512=[name=u,password=p]",
    ]),
    '"-cp"\n"/a b/x.jar:/c\\\\d"\n"Main"\n"--add-scram"\n"SCRAM-SHA-512=[name=u,password=p]"\n',
  );
  assert.throws(() => javaArgFile(['say "hi"']), /cannot hold/);
  assert.throws(() => javaArgFile(["two\nlines"]), /cannot hold/);
});

Deno.test(
  {
    name: "local stack: no password, key or token on any command line while it starts and runs",
    ...slow,
  },
  async () => {
    const seen = new Set<string>();
    let scanning = true;
    const scanner = (async () => {
      while (scanning) {
        for (const line of commandLines().values()) seen.add(line);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    // Its own ports: the suite's shared stack holds CHAOS_TEST_BASE_PORT's.
    const basePort = Number(Deno.env.get("CHAOS_SECRETS_BASE_PORT") ?? 28700);
    let stack: LocalStack | undefined;
    try {
      stack = await LocalStack.up({
        name: `secrets-${Deno.pid}`,
        basePort,
        brokers: 1,
        owner: "process",
        kafkaProxy: true,
        s3Proxy: true,
      });
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      scanning = false;
      await scanner;
    }
    try {
      const redisPassword = (url: string | undefined) => decodeURIComponent(new URL(url!).password);
      const secrets = [
        ...Object.values(stack.kafkaUsers!).map((u) => u.password),
        redisPassword(stack.endpoints.redis.url),
        redisPassword(stack.redisPipelineUrl),
        stack.endpoints.s3.secretKey,
      ];
      assert.ok(secrets.every((s) => s.length >= 16), "the stack's secrets");
      const ours = [...stack.nodes.values()].map((n) => commandLines().get(n.pid()!) ?? "");
      for (const name of ["kafka.Kafka", "redis-server", "minio", "toxiproxy", "s3_proxy_server"]) {
        assert.ok(ours.some((l) => l.includes(name)), `${name} runs: ${ours.join("\n")}`);
      }
      for (const line of commandLines().values()) seen.add(line);
      // StorageTool ran while the scan watched (its argument file on its command line, nothing else).
      assert.ok(
        [...seen].some((l) => /@\S+\/kafka-1\/format\.args$/.test(l)),
        "the scan saw StorageTool run",
      );
      assert.deepEqual(exposing(seen, secrets), []);
      assert.ok(!(await exists(join(stack.dataDir, "kafka-1", "format.args"))), "removed after");

      // The scan can fail: a process with a secret of the stack's on its command line is seen.
      const leak = new Deno.Command("sh", { args: ["-c", "sleep 5", secrets[0]] }).spawn();
      try {
        await new Promise((r) => setTimeout(r, 200));
        assert.equal(exposing(commandLines().values(), secrets).length, 1);
      } finally {
        leak.kill("SIGKILL");
        await leak.status;
      }
    } finally {
      await stack.down();
    }
  },
);

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

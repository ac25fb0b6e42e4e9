/**
 * `deno run -A compose/profile_pipeline.ts [--eps 29000] [--seconds 40] [--cpu-prof DIR]
 * [--baseline DIR] [--base-port 31900]`
 *
 * The sink and the detector as components, live: on a local stack of its own, the generator
 * (this process) produces at `--eps` for `--seconds` while the sink's and the detector's CLIs
 * (`pipeline/cli_sink.ts`, `pipeline/cli_detector.ts`, each a process of its own, as a run starts
 * them) follow the topic. Reports each component's CPU seconds per million events (from
 * `/proc/<pid>/stat`, every thread of the process), the sink's lag and the detector's watermark
 * lag at the end, and with `--cpu-prof DIR` leaves each component's V8 profiles in
 * `DIR/sink` and `DIR/detector` (read them with `compose/cpuprofile_top.ts`).
 * `--baseline DIR` runs a second sink and detector from another checkout (say `git archive
 * HEAD` of this one, with its `node_modules` linked) on the same topic as groups of their own:
 * before and after a change, in one run, on the same load.
 * The brokers' CPU over the same span is reported too (all of it: the components' fetches and
 * commits, the generator's produce and the replication).
 * Last line, exactly: `brokers_cpu_s_per_million=<n> sink_cpu_s_per_million=<n>
 * detector_cpu_s_per_million=<n>` (then `sink-base_…` and `detector-base_…` with `--baseline`).
 * @module
 */

import { join } from "node:path";
import { ExitCode, runMain } from "../lib/exit_codes.ts";
import { intFlag, parseFlags } from "../lib/cli.ts";
import { say } from "../lib/progress.ts";
import { waitFor } from "../lib/wait.ts";
import { LocalStack } from "./local_stack.ts";
import { roleSecurity } from "./kafka_scram.ts";
import { grantAcls, stackRunAcls } from "./kafka_acl.ts";
import { securityEnv } from "../pipeline/kafka_security.ts";
import { Generator } from "../pipeline/generator.ts";
import { ensureTopic, kafkaClient } from "../pipeline/kafka.ts";
import { WebhookReceiver } from "../pipeline/webhook_receiver.ts";

const USAGE = "usage: deno run -A compose/profile_pipeline.ts [--eps 29000] [--seconds 40] " +
  "[--cpu-prof DIR] [--baseline DIR] [--base-port 31900]";

/** User plus system CPU seconds of every thread of `pid` so far. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 (1-based) of the whole line: 11 and 12 after the name.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU seconds of `pid` and every process under it (a broker's wrapper and its JVM). */
async function treeCpuSeconds(pid: number): Promise<number> {
  const children = new Map<number, number[]>();
  const cpu = new Map<number, number>();
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = await Deno.readTextFile(`/proc/${entry.name}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const ppid = Number(fields[1]);
      cpu.set(Number(entry.name), (Number(fields[11]) + Number(fields[12])) / 100);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry.name)]);
    } catch { /* gone meanwhile */ }
  }
  let total = 0;
  for (const todo = [pid]; todo.length > 0;) {
    const p = todo.pop()!;
    total += cpu.get(p) ?? 0;
    todo.push(...(children.get(p) ?? []));
  }
  return total;
}

/** CPU seconds of the stack's brokers so far. */
async function brokersCpuSeconds(stack: LocalStack): Promise<number> {
  let total = 0;
  for (const [name, node] of stack.nodes) {
    const pid = name.startsWith("kafka") ? node.pid() : undefined;
    if (pid !== undefined) total += await treeCpuSeconds(pid);
  }
  return total;
}

/** The value of `name` (summed over its labels) in a Prometheus text exposition. */
function metric(text: string, name: string): number | undefined {
  let sum: number | undefined;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) {
      sum = (sum ?? 0) + Number(line.slice(line.lastIndexOf(" ") + 1));
    }
  }
  return sum;
}

if (import.meta.main) {
  await runMain(async () => {
    const { values } = parseFlags(Deno.args, {
      eps: { type: "string", default: "29000" },
      seconds: { type: "string", default: "40" },
      "cpu-prof": { type: "string" },
      baseline: { type: "string" },
      "base-port": { type: "string", default: "31900" },
    }, USAGE);
    const eps = intFlag("eps", values.eps, { min: 100 })!;
    const seconds = intFlag("seconds", values.seconds, { min: 5 })!;
    const basePort = intFlag("base-port", values["base-port"], { min: 1024, max: 65335 })!;
    const prof = values["cpu-prof"];
    // Another checkout (say `git archive HEAD` of this repository) whose sink and detector
    // follow the same topic as groups of their own: before and after, in one run.
    const baseline = values.baseline;
    const logs = prof ?? await Deno.makeTempDir({ prefix: "profile-pipeline-" });
    say(`the components' logs: ${logs}`);
    const stack = await LocalStack.up({ name: `profile-pipe-${Deno.pid}`, basePort, direct: true });
    const receiver = new WebhookReceiver();
    const children: { name: string; child: Deno.ChildProcess; port: number }[] = [];
    try {
      const brokers = stack.endpoints.kafka.bootstrap.split(",");
      const kafka = kafkaClient(brokers, "profile-pipeline");
      const topic = "profile-pipeline";
      await ensureTopic(kafka, topic, { partitions: 6 });
      // The components' SCRAM users may read the topic as their groups (as in a run).
      for (const suffix of ["", "-base"]) {
        const grants = stackRunAcls(stack.kafkaUsers, {
          topic,
          sinkGroup: `profile-sink${suffix}`,
          detectorGroup: `profile-detector${suffix}`,
        });
        if (!grants) continue;
        const admin = kafka.admin();
        await admin.connect();
        await grantAcls(admin, grants);
        await admin.disconnect();
      }
      const s3 = stack.endpoints.s3;
      const env: Record<string, string> = {
        S3_ENDPOINT: s3.endpoint,
        S3_ACCESS_KEY: s3.accessKey,
        S3_SECRET_KEY: s3.secretKey,
        S3_BUCKET: s3.bucket,
      };
      const spawn = async (
        name: string,
        role: "sink" | "detector",
        script: string,
        args: string[],
        port: number,
        cwd?: string,
      ) => {
        const dir = prof ? join(prof, name) : undefined;
        if (dir) await Deno.mkdir(dir, { recursive: true });
        const log = await Deno.open(join(logs, `${name}.log`), {
          write: true,
          create: true,
          truncate: true,
        });
        const child = new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            ...(dir ? ["--cpu-prof", `--cpu-prof-dir=${dir}`] : []),
            "-A",
            script,
            "--brokers",
            brokers.join(","),
            "--topic",
            topic,
            "--metrics-port",
            String(port),
            ...args,
          ],
          env: { ...env, ...securityEnv(roleSecurity(stack, role)) },
          cwd,
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        // Both streams to the component's log in the stack's folder.
        const [out, err] = [child.stdout, child.stderr];
        const writer = log.writable.getWriter();
        const pump = async (stream: ReadableStream<Uint8Array>) => {
          for await (const chunk of stream) await writer.write(chunk);
        };
        Promise.all([pump(out), pump(err)]).finally(() => writer.close().catch(() => {}));
        children.push({ name, child, port });
      };
      const pair = async (suffix: string, at: number, cwd?: string) => {
        await spawn(
          `sink${suffix}`,
          "sink",
          "pipeline/cli_sink.ts",
          [
            "--group",
            `profile-sink${suffix}`,
          ],
          at,
          cwd,
        );
        await spawn(
          `detector${suffix}`,
          "detector",
          "pipeline/cli_detector.ts",
          [
            "--group",
            `profile-detector${suffix}`,
            "--redis",
            `${stack.endpoints.redis.url}/${suffix ? 1 : 0}`,
            "--webhook",
            receiver.url,
          ],
          at + 1,
          cwd,
        );
      };
      await pair("", basePort + 90);
      if (baseline) await pair("-base", basePort + 92, baseline);
      const scrape = (port: number) =>
        fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
      await waitFor(async () => {
        for (const c of children) await scrape(c.port);
        return true;
      }, { what: "the components' metrics", timeoutMs: 60_000, intervalMs: 500 });
      await new Promise((r) => setTimeout(r, 5000)); // the groups join
      const cpu0 = await Promise.all(children.map((c) => cpuSeconds(c.child.pid)));
      const brokers0 = await brokersCpuSeconds(stack);
      say(`generating ${eps} events/s for ${seconds} s`);
      const lagOf = (name: string, text: string) =>
        name.startsWith("sink")
          ? (metric(text, "sink_consumer_lag") ?? NaN) / eps
          : metric(text, "detector_watermark_lag_seconds") ?? NaN;
      const lags = children.map(() => [] as number[]);
      const sampler = setInterval(async () => {
        for (const [i, c] of children.entries()) {
          try {
            lags[i].push(lagOf(c.name, await scrape(c.port)));
          } catch { /* a scrape that fails is skipped */ }
        }
      }, 1000);
      const ledger = await new Generator({
        brokers,
        topic,
        eps,
        durationMs: seconds * 1000,
        seed: "profile-pipeline",
        incidents: [{ kind: "exfil", at_ms: 10_000, duration_ms: 15_000 }],
        kafka,
      }).run();
      clearInterval(sampler);
      const acked = ledger.totals().acked;
      // The components catch up; the CPU of each counted until it has.
      const cpu1: number[] = children.map(() => NaN);
      await waitFor(async () => {
        for (const [i, c] of children.entries()) {
          if (!Number.isNaN(cpu1[i])) continue;
          const text = await scrape(c.port);
          const seen = metric(
            text,
            c.name.startsWith("sink") ? "sink_records_consumed_total" : "detector_events_total",
          ) ?? 0;
          if (seen >= acked) cpu1[i] = await cpuSeconds(c.child.pid);
        }
        return cpu1.every((x) => !Number.isNaN(x));
      }, { what: "the components to catch up", timeoutMs: 120_000, intervalMs: 200 });
      const brokersCpu = await brokersCpuSeconds(stack) - brokers0;
      const p95 = (xs: number[]) => {
        const s = xs.slice(10).filter(Number.isFinite).sort((a, b) => a - b);
        return s.length ? s[Math.min(s.length - 1, Math.floor(0.95 * s.length))] : NaN;
      };
      console.log(
        `${acked} events at ${eps}/s (${(acked / seconds).toFixed(0)}/s acknowledged); load ${
          (await Deno.readTextFile("/proc/loadavg")).trim()
        }`,
      );
      const perMillion: Record<string, string> = {
        brokers: (brokersCpu / (acked / 1e6)).toFixed(2),
      };
      console.log(`  brokers: ${brokersCpu.toFixed(1)} CPU-s, ${perMillion.brokers} per million`);
      for (const [i, c] of children.entries()) {
        const cpu = cpu1[i] - cpu0[i];
        perMillion[c.name] = (cpu / (acked / 1e6)).toFixed(2);
        console.log(
          `  ${c.name}: ${cpu.toFixed(1)} CPU-s, ${perMillion[c.name]} per million; lag p95 ${
            p95(lags[i]).toFixed(2)
          } s`,
        );
      }
      console.log(
        Object.entries(perMillion).map(([name, v]) => `${name}_cpu_s_per_million=${v}`).join(" "),
      );
      // The logs of a run that went well are not kept (unless they sit beside the profiles).
      if (!prof) await Deno.remove(logs, { recursive: true }).catch(() => {});
      return ExitCode.Pass;
    } finally {
      for (const c of children) {
        try {
          c.child.kill("SIGTERM");
        } catch { /* gone */ }
      }
      for (const c of children) await c.child.status;
      await receiver.stop();
      await stack.down();
    }
  });
}

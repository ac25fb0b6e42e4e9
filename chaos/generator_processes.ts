/**
 * A workload of several generator processes (`workload.processes: N`, a way
 * past one process's CPU, and a rehearsal of load from several machines): the
 * harness's own generator plus N-1 processes of `deno task generate`, each with
 * its share of the rate, the same workers, seed and run id, and its own worker
 * offset (so producer ids and incident ids never collide), and the run's entity
 * secret in their environment (entity_secret.ts). They connect first
 * and start together at `--start-at`; each rewrites a status file every second
 * (summed into the run's live figures and samples) and writes its ledger into
 * `<run>/ledgers/` (`--out`), which the run merges into its own
 * (`Ledger.merge`); they get no store settings and upload nothing (the ledger
 * is the grader's answer key, kept away from the pipeline's bucket). Each is
 * a supervised process with a pid file, so the watchdog kills it with the rest
 * if the harness dies. The scenario's incidents stay with the harness's own
 * generator.
 * @module
 */

import { securityEnv } from "../pipeline/kafka_security.ts";
import { roleSecurity } from "../compose/kafka_scram.ts";
import { dirname, join } from "node:path";
import { repoRoot } from "../compose/paths.ts";
import { ProcessNode } from "../compose/process_node.ts";
import type { Stack } from "../compose/stack.ts";
import { listenerBootstrap } from "../compose/kafka_proxy_control.ts";
import { waitFor } from "../lib/wait.ts";
import type { GeneratorStatus } from "../pipeline/generator_options.ts";
import { Ledger } from "../pipeline/ledger.ts";
import type { KafkaClientKind } from "../pipeline/producer_client.ts";
import { ms, type Scenario } from "./scenario.ts";
import { ENTITY_SECRET_ENV, entitySecret } from "./entity_secret.ts";

export interface GeneratorProcessesOptions {
  stack: Stack;
  topic: string;
  runId: string;
  runDir: string;
  seed: number;
  client: KafkaClientKind;
  /** Keys the incident entities (entity_secret.ts). Default: derived from the harness key and `runId`. */
  entitySecret?: string;
}

/** Each process's share of the target rate (the harness's own generator takes the same). */
export function rateShare(scenario: Scenario): number {
  return scenario.workload.eps / scenario.workload.processes;
}

export class GeneratorProcesses {
  /** The processes, once started. */
  nodes: ProcessNode[] = [];
  readonly #dir: string;
  readonly #make: (startAt: number) => ProcessNode[];

  constructor(scenario: Scenario, o: GeneratorProcessesOptions) {
    const w = scenario.workload;
    this.#dir = join(o.runDir, "ledgers");
    const env: Record<string, string> = {
      KAFKA_BROKERS: listenerBootstrap(o.stack, "generator"),
      KAFKA_TOPIC: o.topic,
      EPS_TARGET: String(Math.max(1, Math.round(rateShare(scenario)))),
      WORKER_COUNT: String(w.workers),
      DURATION: `${ms(w.duration)}ms`,
      SEED: String(o.seed),
      RUN_ID: o.runId,
      // The same entity walk as the harness's generator (worker offsets keep them apart); in the
      // environment, not the arguments, so other users' `ps` never shows it.
      [ENTITY_SECRET_ENV]: o.entitySecret ?? entitySecret(o.runId),
      CHAOS_MODE: String(w.chaos_mode),
      LATENCY_SPIKE_PROB: "0",
      ERROR_RATE_PROB: "0",
      DATA_EXFIL_PROB: "0",
      PORT_SCAN_PROB: "0",
      MALFORMED_PROB: String(w.malformed_prob),
      PRODUCER_ACKS: scenario.stack.acks,
      PRODUCER_IDEMPOTENT: String(scenario.stack.idempotent),
      PRODUCER_SEND_MODE: scenario.stack.send_mode,
      KAFKA_CLIENT: o.client,
      CHAOS_QUIET: "1",
      KAFKA_LOG_LEVEL: Deno.env.get("KAFKA_LOG_LEVEL") ?? "warn",
      // The generator's own user on the local stack (write-only: compose/kafka_acl.ts).
      ...securityEnv(roleSecurity(o.stack, "generator")),
      PATH: `${dirname(Deno.execPath())}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
      HOME: Deno.env.get("HOME") ?? "/root",
    };
    this.#make = (startAt) =>
      Array.from({ length: w.processes - 1 }, (_, i) => {
        const j = i + 1;
        const name = `generator-p${j}`;
        return new ProcessNode({
          name,
          cmd: Deno.execPath(),
          args: [
            ...["run", "-A", "pipeline/cli_generate.ts", "--out", join(this.#dir, `p${j}`)],
            ...["--status-file", this.#statusFile(j), "--start-at", String(startAt)],
          ],
          cwd: repoRoot,
          env: { ...env, WORKER_OFFSET: String(j * w.workers) },
          clearEnv: true,
          logFile: join(o.runDir, "logs", `${name}.log`),
          pidFile: join(o.stack.dataDir, "pids", `${name}.pid`),
        });
      });
  }

  #statusFile(j: number): string {
    return join(this.#dir, `p${j}.status.json`);
  }

  /** Starts every process; each connects, then produces from `startAt` (epoch ms). */
  async start(startAt: number): Promise<void> {
    await Deno.mkdir(this.#dir, { recursive: true });
    this.nodes = this.#make(startAt);
    for (const node of this.nodes) await node.start();
  }

  /** The latest figures of each process (a process that wrote none yet counts as nothing). */
  statuses(): GeneratorStatus[] {
    return this.nodes.flatMap((_, i) => {
      try {
        return [JSON.parse(Deno.readTextFileSync(this.#statusFile(i + 1))) as GeneratorStatus];
      } catch {
        return [];
      }
    });
  }

  /** Asks every process to stop now (SIGINT: each keeps what it did in its ledger). */
  stop(): void {
    for (const node of this.nodes) {
      const pid = node.pid();
      if (pid !== undefined && node.state() !== "dead") {
        try {
          Deno.kill(pid, "SIGINT");
        } catch { /* gone */ }
      }
    }
  }

  /**
   * Waits for every process to end (`timeoutMs` at most, then they are killed) and returns
   * their ledgers; a process that left none makes the run invalid (its events are unaccounted).
   */
  async finish(timeoutMs: number): Promise<Ledger[]> {
    await waitFor(() => this.nodes.every((n) => n.state() === "dead"), {
      what: "the generator processes to end",
      timeoutMs,
      intervalMs: 250,
    }).catch(async () => {
      for (const node of this.nodes) await node.kill();
    });
    const ledgers: Ledger[] = [];
    for (const [i, node] of this.nodes.entries()) {
      const file = join(this.#dir, `p${i + 1}`, "ledger.json");
      try {
        ledgers.push(Ledger.parse(await Deno.readTextFile(file)));
      } catch (error) {
        throw new Error(
          `${node.name} left no ledger (${file}: ${(error as Error).message}); its log:\n` +
            await node.tail(10),
        );
      }
    }
    return ledgers;
  }
}

/** The live figures of several generators as one: counts and rates summed, the worst p95. */
export function combinedStatus(parts: readonly GeneratorStatus[]): GeneratorStatus {
  const [first, ...rest] = parts;
  const out = { ...first };
  for (const s of rest) {
    out.target_eps += s.target_eps;
    out.acked_eps += s.acked_eps;
    out.in_flight += s.in_flight;
    out.attempted += s.attempted;
    out.acked += s.acked;
    out.failed += s.failed;
    out.unknown += s.unknown;
    out.incidents += s.incidents;
    out.malformed += s.malformed;
    if (s.p95_send_ms !== null) out.p95_send_ms = Math.max(out.p95_send_ms ?? 0, s.p95_send_ms);
  }
  return out;
}

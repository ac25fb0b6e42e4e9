/**
 * `deno task fault inject <kind> <target> [--for 30s] [--param key=value ...] [--name STACK]`
 * `deno task fault list [--name STACK]`
 * `deno task fault heal [<id> ...] [--all] [--name STACK]`
 *
 * Game days: the faults of the scenarios, by hand, against a running stack
 * (`deno task up`, or `deno task up --stack docker`). `inject` checks the fault as a scenario would
 * (kind, target, params, stack; exit 2 naming what is wrong), resolves the
 * target, injects, and stays in the foreground until the fault ends: its
 * `--for`, Ctrl-C, or `fault heal` from another terminal; then it heals and
 * exits. One-shot faults (`restart`, `elect_unclean`) return at once. Every
 * inject and heal is recorded (compose/gameday.ts); `deno task down` heals what
 * is still active first. The same fault code as the scenarios: nothing is
 * written twice.
 * @module
 */

import { provision } from "../compose/provision.ts";
import {
  activeFaults,
  healActive,
  markActive,
  markHealed,
  recordGameday,
} from "../compose/gameday.ts";
import { attachStack } from "../compose/attach.ts";
import type { DockerStack } from "../compose/docker_stack.ts";
import { parseFlags } from "../lib/cli.ts";
import { formatDuration, parseDuration } from "../lib/duration.ts";
import { ExitCode, runMain, UsageError, withInterrupt } from "../lib/exit_codes.ts";
import { randomHex } from "../lib/ids.ts";
import { kafkaClient } from "../pipeline/kafka.ts";
import { Rng } from "../pipeline/rng.ts";
import { WebhookReceiver } from "../pipeline/webhook_receiver.ts";
import { FAULTS, stackProblems, targetKind } from "./faults/mod.ts";
import type { Fault } from "./faults/types.ts";
import { validateScenario } from "./scenario.ts";
import { applySets } from "./scenario_file.ts";
import { resolveTarget } from "./targets.ts";

const USAGE =
  `usage: deno task fault inject <kind> <target> [--for 30s] [--param key=value ...] [--name STACK] [--topic T]
       deno task fault list [--name STACK]
       deno task fault heal [<id> ...] [--all] [--name STACK]

Faults by hand against a running stack (deno task up [--stack docker]). inject stays until
the fault ends (--for, Ctrl-C, or fault heal from another terminal), then heals.
Kinds: deno task scenario --faults. Targets as in scenarios: broker:<id>,
broker:leader(<topic>,<p>), broker:controller, broker:random, all-brokers,
redis, minio, link:<a>-<b> (docker only).`;

/** Checks a hand-made fault with the scenario schema, so its errors are the scenarios' own. */
function checkFault(kind: string, target: string, params: string[], forMs: number | undefined) {
  const fault: Record<string, unknown> = { at: "0s", kind, target };
  if (params.length) fault.params = applySets({}, params);
  const impl: Fault | undefined = FAULTS[kind as keyof typeof FAULTS];
  if (forMs !== undefined && !impl?.oneShot) fault.heal_after = formatDuration(forMs);
  const scenario = validateScenario({
    name: "gameday",
    description: "a fault by hand",
    seed: 1,
    workload: { eps: 1, duration: "1s" },
    faults: [fault],
  }, `fault ${kind} ${target}`);
  const kindOfTarget = targetKind(target);
  if (kindOfTarget === "component" || kindOfTarget === "webhook") {
    throw new UsageError(
      `fault ${kind} ${target}: a game day acts on the stack; the sink, detector and webhook ` +
        `exist only inside a scenario run`,
    );
  }
  return scenario.faults[0];
}

async function inject(
  stackName: string,
  positionals: string[],
  values: { for?: string; param: string[]; topic: string },
): Promise<ExitCode> {
  if (positionals.length !== 2) throw new UsageError(USAGE);
  const [kind, target] = positionals;
  const forMs = values.for === undefined ? undefined : parseDuration(values.for);
  if (forMs === null || (forMs !== undefined && forMs <= 0)) {
    throw new UsageError(`--for must be a duration like 30s or 2m, got "${values.for}"`);
  }
  const fault = checkFault(kind, target, values.param, forMs);
  const stack = await attachStack(stackName);
  if (!stack) {
    throw new UsageError(
      `no stack named "${stackName}" is running (start one: deno task up [--stack docker])`,
    );
  }
  const netem = stack.kind === "docker" ? (stack as DockerStack).netem : undefined;
  // attachStack finds the stacks `up` started: local or docker, never an external one.
  const problems = stackProblems([fault], stack.kind === "docker" ? "docker" : "local", netem);
  if (problems.length) throw new UsageError(problems.join("\n"));
  const binaries = await provision();
  const kafka = kafkaClient(stack.endpoints.kafka.bootstrap.split(","), "gameday", {
    requestTimeout: 5000,
  });
  const admin = kafka.admin();
  await admin.connect();
  const receiver = new WebhookReceiver();
  const id = `f-${randomHex(4)}`;
  try {
    const resolved = await resolveTarget(target, {
      stack,
      binaries,
      admin,
      topic: values.topic,
      rng: new Rng(`gameday/${id}`),
      incidents: [],
    }).catch((error) => {
      throw new UsageError(`fault ${kind} ${target}: ${(error as Error).message}`);
    });
    const impl: Fault = FAULTS[kind as keyof typeof FAULTS];
    const params = fault.params; // parsed by the kind's schema (checkFault)
    const ctx = { stack, binaries, components: new Map(), receiver };
    const injected = await impl.inject(ctx, resolved.nodes, params);
    const since = new Date();
    await recordGameday(stackName, {
      type: "inject",
      id,
      kind,
      target,
      nodes: resolved.nodes,
      resolved: resolved.observed,
      observed: injected.observed,
    });
    console.log(
      `${id}: ${kind} ${target} on ${resolved.nodes.join(", ") || "-"}: ${
        JSON.stringify(injected.observed)
      }`,
    );
    if (impl.oneShot) {
      await recordGameday(stackName, { type: "done", id });
      return ExitCode.Pass;
    }
    await markActive(stackName, {
      id,
      kind,
      target,
      nodes: resolved.nodes,
      params,
      pid: Deno.pid,
      since: since.toISOString(),
      until: forMs === undefined ? null : new Date(since.getTime() + forMs).toISOString(),
    });
    console.error(
      `${id} active ${forMs === undefined ? "until healed" : `for ${formatDuration(forMs)}`}` +
        ` (Ctrl-C, or deno task fault heal ${id}${
          stackName === "default" ? "" : ` --name ${stackName}`
        })`,
    );
    await withInterrupt((signal) =>
      new Promise<void>((resolve) => {
        const timer = forMs === undefined ? undefined : setTimeout(resolve, forMs);
        signal.addEventListener("abort", () => {
          clearTimeout(timer);
          resolve();
        }, { once: true });
      })
    );
    const healed = await injected.heal().catch((error) => ({ error: String(error) }));
    await markHealed(stackName, id);
    await recordGameday(stackName, { type: "heal", id, observed: healed });
    console.log(`${id}: healed: ${JSON.stringify(healed)}`);
    return "error" in healed ? ExitCode.RunInvalid : ExitCode.Pass;
  } finally {
    await admin.disconnect().catch(() => {});
    await receiver.stop();
  }
}

if (import.meta.main) {
  await runMain(async () => {
    const { values, positionals } = parseFlags(Deno.args, {
      name: { type: "string", default: "default" },
      for: { type: "string" },
      param: { type: "string", multiple: true, default: [] },
      topic: { type: "string", default: "network-telemetry" },
      all: { type: "boolean", default: false },
    }, USAGE);
    const [command, ...rest] = positionals;
    if (command === "inject") return await inject(values.name, rest, values);
    if (command === "list") {
      const active = await activeFaults(values.name);
      if (active.length === 0) console.log(`no fault active on stack "${values.name}"`);
      for (const f of active) {
        console.log(
          `${f.id}  ${f.kind} ${f.target} on ${f.nodes.join(", ") || "-"} since ${f.since}` +
            (f.until ? ` until ${f.until}` : " until healed") +
            (Object.keys(f.params).length ? ` ${JSON.stringify(f.params)}` : ""),
        );
      }
      return ExitCode.Pass;
    }
    if (command === "heal") {
      if (!values.all && rest.length === 0) {
        throw new UsageError(
          `fault heal: name the faults (ids from fault list) or --all\n${USAGE}`,
        );
      }
      const known = new Set((await activeFaults(values.name)).map((f) => f.id));
      const unknown = rest.filter((id) => !known.has(id));
      if (unknown.length) {
        throw new UsageError(`no active fault ${unknown.join(", ")} on stack "${values.name}"`);
      }
      const healed = await healActive(values.name, values.all ? undefined : rest);
      console.log(healed.length ? `healed ${healed.join(", ")}` : "nothing to heal");
      return ExitCode.Pass;
    }
    throw new UsageError(USAGE);
  });
}

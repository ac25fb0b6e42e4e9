/**
 * The `kafka_error` fault: Kafka protocol errors, through the kafka proxy in
 * front of each broker's client listener (compose/kafka_proxy.ts; in the path
 * of a run whose scenario uses this fault, compose/kafka_proxy_control.ts), on
 * the local stack and on the docker stack (there a process on the harness's
 * host before Toxiproxy's container: compose/docker_proxies.ts).
 * For a `share` of the target brokers' requests of the chosen `apis`, the
 * proxy answers an error `code` instead of forwarding (`mode: error`: only a
 * code the API is really answered with, see VALID_CODES), holds one API's
 * answers back `delay_ms` (`delay`), or forwards a Produce and drops its
 * answer (`drop_answer`: the write happened, the producer times the request
 * out and retries it; keep the share small or the fault short, each drop
 * costs a request timeout).
 *
 * `target` picks the pipeline's component by the proxy's listener its
 * connections came in on (each component has its own ports and bootstrap:
 * compose/kafka_proxy_routes.ts), never by the client id it sends, which a
 * graded sink chooses. A graded pipeline's sink and detector run in a sandbox
 * each, reaching only their own ports (compose/sandbox.ts); a combined pipeline
 * (a phase submission's `start_pipeline`) is one process in one sandbox: a
 * fault on either then hits both, and its evidence says so (`hits`, `widened`).
 *
 * Its effect is the proxy's count of what it did on the targets (errors
 * answered by API and code, answers delayed, answers dropped): the fault
 * waits (20 s) for the first, else it is cleared and reported as without
 * effect (the run is then `unknown`). The heal clears the mode and records
 * the counts of the whole fault.
 * @module
 */

import { z } from "zod";
import {
  KAFKA_PROXY_NODE,
  KafkaProxyControl,
  kafkaProxyControlUrl,
  runsKafkaProxy,
} from "../../compose/kafka_proxy_control.ts";
import {
  countsSince,
  type KafkaProxyMode,
  PROXY_MODES,
  PROXY_TARGETS,
  type ProxyCounts,
  type ProxyTarget,
  total,
} from "../../compose/kafka_proxy_mode.ts";
import type { StackNode } from "../../compose/stack.ts";
import { wrappedUid } from "../../compose/sandbox.ts";
import { uncappedArgv } from "../../compose/log_cap.ts";
import { ERROR_APIS, ERROR_CODES, VALID_CODES } from "../../compose/kafka_wire_errors.ts";
import { brokerIdOf } from "../../compose/stack.ts";
import { millis, probability } from "./params.ts";
import { defineFault, type FaultContext } from "./types.ts";

/** How long the fault waits for its first effect. */
export const EFFECT_WAIT_MS = 20_000;

/** The count that shows each mode's effect. */
const EFFECT = { error: "errors", delay: "delayed", drop_answer: "dropped" } as const;

export const kafkaErrorParams = z.strictObject({
  mode: z.enum(PROXY_MODES).default("error").describe(
    "error: answer `code` instead of forwarding; delay: hold the answers of one API back " +
      "`delay_ms`; drop_answer: forward a Produce and drop its answer",
  ),
  apis: z.array(z.enum(ERROR_APIS)).min(1).default(["Produce"]).describe(
    "the APIs it acts on (delay: one; drop_answer: Produce)",
  ),
  code: z.enum(Object.keys(ERROR_CODES) as [keyof typeof ERROR_CODES]).optional().describe(
    "error: the code answered, one each API of `apis` is really answered with (Produce: " +
      "NOT_LEADER_OR_FOLLOWER, NOT_ENOUGH_REPLICAS, REQUEST_TIMED_OUT; Fetch: " +
      "NOT_LEADER_OR_FOLLOWER, REQUEST_TIMED_OUT; Metadata: LEADER_NOT_AVAILABLE; OffsetCommit: " +
      "COORDINATOR_NOT_AVAILABLE, REQUEST_TIMED_OUT; FindCoordinator: COORDINATOR_NOT_AVAILABLE)",
  ),
  delay_ms: millis(120_000).optional().describe("delay: how long each answer is held back"),
  share: probability.refine((s) => s > 0, "must be more than 0").default(1).describe(
    "the share of the matching requests it acts on",
  ),
  target: z.union([z.enum(PROXY_TARGETS), z.array(z.enum(PROXY_TARGETS)).min(1)]).optional()
    .describe(
      "only the requests of these components (generator, sink, detector: each reaches the " +
        "brokers through listeners of its own, so a client id cannot dodge it); default every " +
        "client's, the harness's own included",
    ),
}).superRefine((p, ctx) => {
  if (p.mode === "error") {
    if (!p.code) {
      ctx.addIssue({ code: "custom", path: ["code"], message: "mode error needs a code" });
    } else {
      for (const api of p.apis.filter((a) => !VALID_CODES[a].includes(p.code!))) {
        ctx.addIssue({
          code: "custom",
          path: ["code"],
          message: `${api} is never answered ${p.code} (it is answered ${
            VALID_CODES[api].join(" or ")
          })`,
        });
      }
    }
  } else if (p.code) {
    ctx.addIssue({ code: "custom", path: ["code"], message: `mode ${p.mode} takes no code` });
  }
  if (p.mode === "delay") {
    if (p.apis.length !== 1) {
      ctx.addIssue({ code: "custom", path: ["apis"], message: "delay acts on one API" });
    }
    if (p.delay_ms === undefined) {
      ctx.addIssue({ code: "custom", path: ["delay_ms"], message: "mode delay needs delay_ms" });
    }
  } else if (p.delay_ms !== undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["delay_ms"],
      message: `mode ${p.mode} takes no delay_ms`,
    });
  }
  if (p.mode === "drop_answer" && (p.apis.length !== 1 || p.apis[0] !== "Produce")) {
    ctx.addIssue({ code: "custom", path: ["apis"], message: "drop_answer acts on Produce only" });
  }
});

export type KafkaErrorParams = z.output<typeof kafkaErrorParams>;

/** The components a `target` param names (undefined: every client). */
export function targetsOf(target: KafkaErrorParams["target"]): ProxyTarget[] | undefined {
  return target === undefined ? undefined : typeof target === "string" ? [target] : target;
}

/**
 * Whether the sink and the detector cannot be told apart by their ports: one process (a combined
 * pipeline), or both run in one sandbox (one uid, one firewall chain that lets both reach both
 * components' ports; a box whose uid cannot be read counts as one). A graded pipeline's sink and
 * detector in a box each (compose/sandbox.ts) are told apart.
 */
export function pipelineShared(components: ReadonlyMap<string, StackNode>): boolean {
  const sink = components.get("sink");
  const detector = components.get("detector");
  if (!sink || !detector) return false;
  if (sink === detector) return true;
  const box = (n: StackNode) => {
    const spec = (n as { spec?: { cmd?: string; args?: string[] } }).spec;
    // A graded component's box runs behind the harness's log cap (compose/log_cap.ts).
    const argv = uncappedArgv([spec?.cmd ?? "", ...(spec?.args ?? [])]);
    if (argv[0] !== "unshare") return undefined;
    return wrappedUid(argv) ?? "unknown";
  };
  const [a, b] = [box(sink), box(detector)];
  return a !== undefined && b !== undefined && (a === b || a === "unknown" || b === "unknown");
}

/** The listeners a fault on `targets` hits: the sink or the detector of a shared pipeline, both. */
export function listenersHit(
  targets: ProxyTarget[] | undefined,
  shared: boolean,
): ProxyTarget[] | undefined {
  if (!targets || !shared || !targets.some((t) => t === "sink" || t === "detector")) return targets;
  return PROXY_TARGETS.filter((t) => t !== "generator" || targets.includes("generator"));
}

/** The proxy's mode for `params` on `brokers`, on the listeners of `hits` (default: `target`'s). */
export function proxyMode(
  params: KafkaErrorParams,
  brokers: number[],
  hits: ProxyTarget[] | undefined = targetsOf(params.target),
): KafkaProxyMode {
  return {
    mode: params.mode,
    brokers,
    apis: params.apis,
    ...(params.code ? { code: params.code } : {}),
    ...(params.delay_ms !== undefined ? { delayMs: params.delay_ms } : {}),
    share: params.share,
    ...(hits ? { targets: hits } : {}),
  };
}

/** Whether a run of a scenario with these faults (and random actions) needs the kafka proxy. */
export function needsKafkaProxy(
  scenario: { faults: readonly { kind: string }[]; chaos?: { actions: readonly string[] } },
): boolean {
  const kinds = [...scenario.faults.map((f) => f.kind), ...(scenario.chaos?.actions ?? [])];
  return kinds.includes("kafka_error");
}

/** The proxy's control of the stack, or an error saying how to put the proxy in the path. */
function controlOf(ctx: FaultContext): KafkaProxyControl {
  if (ctx.stack.kind === "external" || !runsKafkaProxy(ctx.stack)) {
    throw new Error(
      `kafka_error needs the kafka proxy in the clients' path (node ${KAFKA_PROXY_NODE}), and ` +
        "this stack runs none (a run whose scenario uses kafka_error starts it; a stack of your " +
        "own: CHAOS_KAFKA_PROXY=on deno task up [--stack docker])",
    );
  }
  return new KafkaProxyControl(kafkaProxyControlUrl(ctx.stack.plan));
}

/** What the proxy did on `brokers`, by broker: the counts that are not 0. */
function effectOf(counts: ProxyCounts, brokers: number[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const b of brokers) {
    const c = counts[b];
    if (!c) continue;
    out[`broker:${b}`] = {
      ...(Object.keys(c.errors).length ? { errors: c.errors } : {}),
      ...(Object.keys(c.delayed).length ? { delayed: c.delayed } : {}),
      ...(Object.keys(c.dropped).length ? { dropped: c.dropped } : {}),
      ...(Object.keys(c.untouched).length ? { untouched: c.untouched } : {}),
      ...(Object.keys(c.refused ?? {}).length ? { refused: c.refused } : {}),
      requests: c.requests,
    };
  }
  return out;
}

export const kafkaError = defineFault({
  kind: "kafka_error",
  summary:
    "Kafka protocol errors through the kafka proxy in front of the brokers' client listeners: " +
    "for a `share` of the requests of `apis`, answers an error `code` instead of forwarding, " +
    "holds one API's answers back `delay_ms`, or forwards a Produce and drops its answer; " +
    "observed by the proxy's counts; healed by clearing its mode",
  targets: ["broker"],
  stacks: ["local", "docker"],
  params: kafkaErrorParams,
  async inject(ctx, nodes, params) {
    const control = controlOf(ctx);
    const brokers = nodes.map(brokerIdOf);
    const kind = EFFECT[params.mode];
    const hits = listenersHit(targetsOf(params.target), pipelineShared(ctx.components));
    const before = (await control.state()).counts;
    let effect: ProxyCounts;
    try {
      await control.set(proxyMode(params, brokers, hits));
      const end = Date.now() + EFFECT_WAIT_MS;
      for (;;) {
        effect = countsSince(before, (await control.state()).counts);
        if (total(effect, kind, brokers) > 0) break;
        if (Date.now() > end) {
          throw new Error(
            `kafka_error had no effect: no ${params.apis.join("/")} request ${
              hits ? `of the ${hits.join("/")} ` : ""
            }to ${nodes.join(", ")} was ${kind === "errors" ? "answered an error" : kind} within ${
              EFFECT_WAIT_MS / 1000
            } s (nothing asked those brokers for it)`,
          );
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    } catch (error) {
      await control.clear().catch(() => {});
      throw error;
    }
    return {
      observed: {
        mode: params.mode,
        apis: params.apis,
        ...(params.code ? { code: params.code } : {}),
        ...(params.delay_ms !== undefined ? { delay_ms: params.delay_ms } : {}),
        share: params.share,
        ...(params.target ? { target: params.target } : {}),
        ...(hits ? { hits } : {}),
        ...(hits && hits.length > targetsOf(params.target)!.length
          ? {
            widened: "the graded pipeline's sink and detector are one process (or share one " +
              "sandbox): either can use the other's ports, so the fault hits both",
          }
          : {}),
        [kind]: total(effect, kind, brokers),
        effect: effectOf(effect, brokers),
      },
      async heal() {
        const after = (await control.clear()).counts;
        const during = countsSince(before, after);
        return {
          cleared: nodes,
          [kind]: total(during, kind, brokers),
          effect: effectOf(during, brokers),
        };
      },
    };
  },
});

/**
 * The partition shapes of #31 on the docker stack, run for real as a user
 * runs a scenario (`deno task scenario <file> --stack docker`), shortened:
 * the whole stack frozen at once (`freeze`: every broker, MinIO and Redis
 * paused together, unpaused together), then the leader of partition 0 heard
 * but not heard (`one_way`, drop "sent": Toxiproxy toxics on its listeners
 * and quorum links). Asserted: the run passes with nothing acknowledged lost;
 * each fault observed (the containers paused; the toxics on their streams)
 * and healed (unpaused and running; the toxics removed and the proxies
 * reconnected); and afterwards no container or network of the run's stack is
 * left, none of any stack paused, and no rule of the harness in the host's
 * iptables. The catalog scenarios (`stack-freeze`, `one-way-partition`,
 * `bridge-partition`) run whole in the nightly.
 */

import assert from "node:assert/strict";
import { dockerClient, STACK_LABEL } from "../compose/docker.ts";
import { slow } from "../compose/testing.ts";
import { COMMENT } from "./faults/docker_net.ts";
import { validateScenario } from "./scenario.ts";
import { observedDetail, scenarioRun } from "./short_run_testing.ts";

const BASE = Number(Deno.env.get("CHAOS_DOCKER_SHAPES_BASE_PORT") ?? 32600);

/** The short scenario: freeze at 8 s for 6 s, then one_way on partition 0's leader for 8 s. */
export const SHAPES = {
  name: "docker-shapes",
  description: "the stack frozen for 6 s, then partition 0's leader heard but not heard for 8 s",
  seed: 47,
  workload: {
    eps: 2000,
    duration: "34s",
    incidents: [{ at: "4s", kind: "exfil", duration: "8s" }],
  },
  faults: [
    { at: "8s", kind: "freeze", target: "all-brokers", heal_after: "6s" },
    {
      at: "18s",
      kind: "one_way",
      target: "broker:leader(network-telemetry,0)",
      params: { drop: "sent" },
      heal_after: "8s",
    },
  ],
  checks: { max_duplicates: 0, alerts: true },
};

Deno.test("docker shapes: the short scenario is valid", () => {
  const s = validateScenario(structuredClone(SHAPES));
  assert.deepEqual(s.faults.map((f) => f.kind), ["freeze", "one_way"]);
});

Deno.test(
  { name: "docker: freeze and one_way in a short run: observed, healed, nothing left", ...slow },
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "chaos-docker-shapes-" });
    try {
      const run = await scenarioRun(SHAPES, dir, ["--stack", "docker"], {
        CHAOS_RUN_BASE_PORT: String(BASE),
      });
      const { results, explain } = run;
      assert.equal(run.res.code, 0, explain);
      assert.equal(results.verdict, "pass", explain);
      assert.equal(results.completeness?.lost, 0, explain);
      assert.ok((results.completeness?.acked ?? 0) > 0, explain);

      const detail = (kind: string) => observedDetail(run, kind);
      const freeze = detail("freeze");
      const frozen = ["kafka-1", "kafka-2", "kafka-3", "minio", "redis"];
      assert.deepEqual(freeze.paused, frozen, explain);
      // Paused together: the last within a second of the first.
      const after = Object.values(freeze.paused_after_ms as Record<string, number>);
      assert.ok(Math.max(...after) - Math.min(...after) < 1000, JSON.stringify(after));
      assert.deepEqual(freeze.heal.unpaused, frozen, explain);
      assert.deepEqual(freeze.heal.running, frozen, explain);

      const oneWay = detail("one_way");
      const toxics = oneWay.toxics as string[];
      const leader = `kafka-${oneWay.leader_was}`;
      assert.ok(toxics.includes(`${leader}-client/downstream`), JSON.stringify(toxics));
      assert.ok(toxics.includes(`${leader}-internal/downstream`), JSON.stringify(toxics));
      assert.ok(toxics.some((t) => t.startsWith(`${leader}-to-`)), JSON.stringify(toxics));
      assert.deepEqual(oneWay.heal.removed, toxics, explain);
      console.log(
        `docker shapes: acked ${results.completeness?.acked}, lost 0; paused after ` +
          `${
            JSON.stringify(freeze.paused_after_ms)
          } ms; one_way on ${leader}: ${toxics.length} toxics`,
      );

      // Nothing of the run's stack is left; no container anywhere paused; no host rule.
      const filters = JSON.stringify({ label: [`${STACK_LABEL}=${results.run_id}`] });
      assert.deepEqual(await dockerClient().listContainers({ all: true, filters }), []);
      assert.deepEqual(await dockerClient().listNetworks({ filters }), []);
      const paused: { Names: string[] }[] = await dockerClient().listContainers({
        filters: JSON.stringify({ status: ["paused"], label: [STACK_LABEL] }),
      });
      assert.deepEqual(paused.map((c) => c.Names), [], "no container of any stack left paused");
      for (const table of ["filter", "nat"]) {
        const rules = await new Deno.Command("iptables", { args: ["-t", table, "-S"] }).output();
        assert.doesNotMatch(new TextDecoder().decode(rules.stdout), new RegExp(COMMENT));
      }
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);

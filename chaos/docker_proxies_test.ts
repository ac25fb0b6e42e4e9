/**
 * The protocol faults of #31 on the docker stack, run for real as a user runs
 * a scenario (`deno task scenario <file> --stack docker`), shortened: the S3
 * proxy on the harness's host stores the sink's PUTs and drops their answers
 * (`s3_fault`, `lost_answer`), then the kafka proxy on the host answers a
 * share of the sink's Fetches and OffsetCommits `REQUEST_TIMED_OUT`
 * (`kafka_error`, target sink) in front of Toxiproxy's container. Asserted:
 * the run passes with nothing acknowledged lost and no duplicate; each fault
 * observed (its proxy's counts: `store_writes_faulted`, the errors answered
 * on the sink's listener) and healed (the mode cleared); and afterwards no
 * container or network of the run's stack is left and no proxy holds its host
 * ports. The catalog scenarios (`sink-s3-faults`, `kafka-protocol-errors`)
 * run whole on `--stack docker` in the nightly or by hand.
 */

import assert from "node:assert/strict";
import { dockerClient, STACK_LABEL } from "../compose/docker.ts";
import { hostProxyPorts } from "../compose/docker_proxies.ts";
import { KAFKA_PROXY_NODE } from "../compose/kafka_proxy_control.ts";
import { portPlan } from "../compose/ports.ts";
import { S3_PROXY_NODE } from "../compose/s3_proxy.ts";
import { slow } from "../compose/testing.ts";
import { portFree } from "../lib/wait.ts";
import { validateScenario } from "./scenario.ts";
import { observedDetail, scenarioRun } from "./short_run_testing.ts";

const BASE = Number(Deno.env.get("CHAOS_DOCKER_PROXIES_BASE_PORT") ?? 32900);

/** The short scenario: lost S3 answers at 6 s for 8 s, the sink's Kafka errors at 16 s for 8 s. */
export const PROXIES = {
  name: "docker-proxies",
  description: "S3 answers lost, then the sink's Fetches and commits answered errors, on docker",
  seed: 53,
  workload: {
    eps: 2000,
    duration: "30s",
    incidents: [{ at: "4s", kind: "exfil", duration: "8s" }],
  },
  faults: [
    {
      at: "6s",
      kind: "s3_fault",
      target: "minio",
      params: { mode: "lost_answer" },
      heal_after: "8s",
    },
    {
      at: "16s",
      kind: "kafka_error",
      target: "all-brokers",
      params: {
        apis: ["Fetch", "OffsetCommit"],
        code: "REQUEST_TIMED_OUT",
        share: 0.3,
        target: "sink",
      },
      heal_after: "8s",
    },
  ],
  checks: { max_duplicates: 0, alerts: true },
};

Deno.test("docker proxies: the short scenario is valid", () => {
  const s = validateScenario(structuredClone(PROXIES));
  assert.deepEqual(s.faults.map((f) => f.kind), ["s3_fault", "kafka_error"]);
});

Deno.test(
  {
    name: "docker: s3_fault and kafka_error in a short run: observed, lost 0, nothing left",
    ...slow,
  },
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "chaos-docker-proxies-" });
    try {
      const run = await scenarioRun(PROXIES, dir, ["--stack", "docker"], {
        CHAOS_RUN_BASE_PORT: String(BASE),
      });
      const { results, explain } = run;
      assert.equal(run.res.code, 0, explain);
      assert.equal(results.verdict, "pass", explain);
      assert.equal(results.completeness?.lost, 0, explain);
      assert.ok((results.completeness?.acked ?? 0) > 0, explain);

      const detail = (kind: string) => observedDetail(run, kind);
      const s3 = detail("s3_fault");
      assert.ok((s3.store_writes_faulted as number) > 0, JSON.stringify(s3));
      assert.ok((s3.heal.store_writes_faulted as number) > 0, JSON.stringify(s3));
      assert.equal(s3.heal.cleared, true);
      const kafka = detail("kafka_error");
      assert.ok((kafka.errors as number) > 0, JSON.stringify(kafka));
      assert.ok(Object.keys(kafka.effect as object).length > 0, JSON.stringify(kafka));
      assert.deepEqual(kafka.hits, ["sink"], JSON.stringify(kafka));
      assert.ok((kafka.heal.errors as number) > 0, JSON.stringify(kafka));
      console.log(
        `docker proxies: acked ${results.completeness?.acked}, lost 0, duplicates ` +
          `${
            results.completeness?.duplicates ?? 0
          }; lost answers ${s3.heal.store_writes_faulted} ` +
          `(${s3.heal.keys_faulted} keys); the sink's Kafka errors ${kafka.heal.errors}`,
      );

      // Nothing of the run's stack is left: no container, no network, no proxy on the host.
      const filters = JSON.stringify({ label: [`${STACK_LABEL}=${results.run_id}`] });
      assert.deepEqual(await dockerClient().listContainers({ all: true, filters }), []);
      assert.deepEqual(await dockerClient().listNetworks({ filters }), []);
      const ports = hostProxyPorts(portPlan(BASE, 3), [S3_PROXY_NODE, KAFKA_PROXY_NODE]);
      assert.deepEqual(ports.filter((p) => !portFree(p)), [], "a host proxy outlived the run");
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);

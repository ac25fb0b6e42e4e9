/**
 * Kafka protocol errors, through the kafka proxy in front of every broker's
 * client listener (compose/kafka_proxy.ts: in the clients' path for this
 * run only), against the generator, the sink and the detector in turn (each
 * fault acts on one client's requests, by client id): the brokers answer
 * the generator's Produces NOT_LEADER_OR_FOLLOWER (it refreshes its metadata
 * and retries), then broker 1 writes some of its Produces and their answers
 * are lost (the idempotent producer times the request out and retries a
 * write that happened: Kafka must keep one copy), the sink's offset commits
 * and coordinator lookups meet COORDINATOR_NOT_AVAILABLE, the detector's
 * Fetches REQUEST_TIMED_OUT, the generator's Produces NOT_ENOUGH_REPLICAS,
 * the sink's Fetch answers come a second late, and the generator's Metadata
 * answers say LEADER_NOT_AVAILABLE. Each fault counts as injected only when
 * the proxy answered (or held back, or dropped) at least one request.
 *
 * Expected verdict: PASS. Nothing acknowledged is lost, nothing is stored
 * twice, both incidents raise one alert each; with idempotence on, the topic
 * holds no record twice (`duplicates_in_kafka` 0 in results.json: reported;
 * kafka-dropped-acks-no-idempotence shows the same faults without it).
 */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "kafka-protocol-errors",
  description:
    "Kafka answers errors, drops Produce answers, delays Fetches: generator, sink, detector in turn",
  seed: 41,
  workload: {
    eps: 4000,
    duration: "150s",
    incidents: [
      { at: "15s", kind: "exfil", duration: "20s" },
      { at: "75s", kind: "exfil", duration: "20s" },
    ],
  },
  faults: [
    {
      at: "10s",
      kind: "kafka_error",
      target: "all-brokers",
      params: { code: "NOT_LEADER_OR_FOLLOWER", share: 0.2, target: "generator" },
      heal_after: "15s",
    },
    {
      at: "30s",
      kind: "kafka_error",
      target: "broker:1",
      params: { mode: "drop_answer", share: 0.003, target: "generator" },
      heal_after: "15s",
    },
    {
      at: "50s",
      kind: "kafka_error",
      target: "all-brokers",
      params: {
        apis: ["OffsetCommit", "FindCoordinator"],
        code: "COORDINATOR_NOT_AVAILABLE",
        share: 0.5,
        target: "sink",
      },
      heal_after: "15s",
    },
    {
      at: "70s",
      kind: "kafka_error",
      target: "all-brokers",
      params: { apis: ["Fetch"], code: "REQUEST_TIMED_OUT", share: 0.2, target: "detector" },
      heal_after: "15s",
    },
    {
      at: "90s",
      kind: "kafka_error",
      target: "all-brokers",
      params: { code: "NOT_ENOUGH_REPLICAS", share: 0.2, target: "generator" },
      heal_after: "10s",
    },
    {
      at: "105s",
      kind: "kafka_error",
      target: "all-brokers",
      params: { mode: "delay", apis: ["Fetch"], delay_ms: 1000, target: "sink" },
      heal_after: "15s",
    },
    {
      at: "125s",
      kind: "kafka_error",
      target: "all-brokers",
      params: { apis: ["Metadata"], code: "LEADER_NOT_AVAILABLE", share: 0.5, target: "generator" },
      heal_after: "10s",
    },
  ],
  checks: { max_duplicates: 0, alerts: true },
});

/**
 * The answers to some of the generator's Produces are dropped after Kafka
 * wrote them (the kafka proxy's `drop_answer`, on every broker for 30 s), and
 * the producer runs with idempotence off, on kafkajs: it times each such
 * request out (30 s) and sends the batch again, and Kafka, with no producer id
 * and sequence to recognise it by, appends it a second time. (@platformatic/kafka,
 * the default client, gives such a send up instead: its fate is unknown, and the
 * store check finds it stored: "recovered", no copy.) The topic then holds those
 * records twice, at two offsets each: the completeness check finds them and
 * counts them (`duplicates_in_kafka` in results.json, with the retried
 * identities), separately from the sink's duplicates. Retries without
 * idempotence may also reorder a producer's records within a partition:
 * allowed here (`allow_reorder`), reported.
 *
 * Expected verdict: PASS, with duplicates_in_kafka > 0. A copy Kafka holds
 * twice is two records, each of which the sink must store exactly once: the
 * contract judges the pipeline, not the producer (docs/contract.md), so the
 * copies are reported and not counted against `max_duplicates` (0: any copy
 * the sink stores twice still fails the run). Nothing acknowledged may be
 * lost. Compare kafka-protocol-errors, where idempotence keeps the topic
 * free of copies under the same fault.
 */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "kafka-dropped-acks-no-idempotence",
  description: "Produce answers dropped, idempotence off: Kafka holds retried writes twice",
  seed: 43,
  stack: { idempotent: false, kafka_client: "kafkajs" },
  workload: {
    eps: 4000,
    duration: "90s",
    incidents: [{ at: "15s", kind: "exfil", duration: "20s" }],
  },
  faults: [{
    at: "20s",
    kind: "kafka_error",
    target: "all-brokers",
    params: { mode: "drop_answer", share: 0.003, target: "generator" },
    heal_after: "30s",
  }],
  checks: { max_duplicates: 0, allow_reorder: true, alerts: true },
});

/**
 * How a failed send is classified, on both clients' real error classes: only
 * a refusal by Kafka on every attempt is "failed"; anything else is "unknown".
 */

import assert from "node:assert/strict";
import { MultipleErrors, NetworkError, ProtocolError, TimeoutError } from "@platformatic/kafka";
import kafkajs from "kafkajs";
import { UsageError } from "../lib/exit_codes.ts";
import { definitelyNotAppended } from "./kafka.ts";
import { kafkaClientKind, producerClient, UnansweredSend } from "./producer_client.ts";
import type { Kafka } from "kafkajs";

// kafkajs is CommonJS: its error classes are properties of the default export.
const { KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } = kafkajs;

// kafkajs builds protocol errors from a decoded response: { type, code, message, retriable }.
const kafkajsRefusal = (type: string) =>
  new KafkaJSProtocolError({ type, code: 19, message: type, retriable: true } as never);

Deno.test("definitelyNotAppended: kafkajs errors", () => {
  assert.equal(definitelyNotAppended(kafkajsRefusal("NOT_ENOUGH_REPLICAS")), true);
  assert.equal(
    definitelyNotAppended(
      new KafkaJSNumberOfRetriesExceeded(kafkajsRefusal("NOT_ENOUGH_REPLICAS"), {
        retryCount: 5,
        retryTime: 1000,
      }),
    ),
    true,
  );
  // Appended but not yet replicated enough: the fate is unknown.
  assert.equal(definitelyNotAppended(kafkajsRefusal("NOT_ENOUGH_REPLICAS_AFTER_APPEND")), false);
  assert.equal(definitelyNotAppended(new KafkaJSConnectionError("Connection timeout")), false);
  assert.equal(definitelyNotAppended(new Error("anything")), false);
  assert.equal(definitelyNotAppended(undefined), false);
});

Deno.test("definitelyNotAppended: @platformatic/kafka errors, every attempt counts", () => {
  const refused = new ProtocolError("NOT_ENOUGH_REPLICAS");
  assert.equal(definitelyNotAppended(refused), true);
  assert.equal(
    definitelyNotAppended(new MultipleErrors("Producing messages failed.", [refused, refused])),
    true,
  );
  // One attempt timed out first: it may have been appended.
  assert.equal(
    definitelyNotAppended(
      new MultipleErrors("Producing messages failed.", [
        new TimeoutError("Request timed out"),
        refused,
      ]),
    ),
    false,
  );
  assert.equal(definitelyNotAppended(new NetworkError("Connection closed")), false);
  assert.equal(
    definitelyNotAppended(
      new MultipleErrors("x", [new ProtocolError("NOT_LEADER_OR_FOLLOWER")]),
    ),
    false,
  );
});

Deno.test("kafkaClientKind names the knob and the value", () => {
  assert.equal(kafkaClientKind("kafkajs", "--kafka-client"), "kafkajs");
  assert.equal(kafkaClientKind("platformatic", "--kafka-client"), "platformatic");
  assert.throws(
    () => kafkaClientKind("librdkafka", "KAFKA_CLIENT"),
    (e: unknown) =>
      e instanceof UsageError &&
      e.message === 'KAFKA_CLIENT must be kafkajs, platformatic or lean, got "librdkafka"',
  );
});

Deno.test("kafkajs client: a send answered for some partitions only is not acknowledged", async () => {
  // kafkajs#1303: send resolves without an answer for a partition whose leader died.
  let answer = [{ partition: 0 }];
  const kafka = {
    producer: () => ({ send: () => Promise.resolve(answer) }),
  } as unknown as Kafka;
  const client = producerClient("kafkajs", {
    brokers: [],
    kafka,
    clientId: "t",
    acks: -1,
    idempotent: true,
    deliveryTimeoutMs: 5000,
  });
  const m = (partition: number) => ({ topic: "t", key: "k", value: "v", partition });
  await client.send([m(0), m(0)]);
  const error = await client.send([m(0), m(1)]).then(() => undefined, (e) => e);
  assert.ok(error instanceof UnansweredSend, String(error));
  assert.match(error.message, /no answer for partition\(s\) 1/);
  assert.equal(definitelyNotAppended(error), false, "recorded unknown, not failed");
  answer = [{ partition: 1 }, { partition: 0 }];
  await client.send([m(0), m(1)]);
});

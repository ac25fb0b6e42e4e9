/**
 * The blame of lost records end to end: segments written by real brokers (the shared test
 * stack, uncompressed and gzip batches) are read back record for record on every replica, and
 * the three classes appear when the topic as read and the store lack what the logs hold. The
 * report's section and where each broker's log dir is found are checked without a stack.
 */

import assert from "node:assert/strict";
import { CompressionTypes } from "kafkajs";
import { slow, testStack, topicReady } from "../compose/testing.ts";
import { createTopicsAndWait, kafkaClient } from "../pipeline/kafka.ts";
import { eventSerializer } from "../pipeline/event.ts";
import { Ledger } from "../pipeline/ledger.ts";
import { Rng } from "../pipeline/rng.ts";
import { baselineFlow } from "../pipeline/traffic.ts";
import { renderHtml } from "../reports/html.ts";
import { renderMarkdown } from "../reports/render.ts";
import { failRun } from "../reports/_fixtures.ts";
import { blame, type BlameResult, lostBeforeKafka, lostRecords } from "../validate/blame.ts";
import { decodeSegment, searchLogs, valueIdentity } from "../validate/log_segments.ts";
import { TopicTableBuilder } from "../validate/topic_table.ts";
import type { Stack } from "../compose/stack.ts";
import { brokerLogs } from "./judge.ts";
import { join } from "node:path";

const sample: BlameResult = {
  lost: 16,
  unavailable: null,
  counts: { never_in_topic: 5, on_replica_not_leader: 10, in_topic_not_stored: 1 },
  unattributed: 0,
  examples: {
    never_in_topic: [{ producer_id: "run-w0", seq: 300 }],
    on_replica_not_leader: [{
      producer_id: "run-w0",
      seq: 10,
      on: [{ broker: "kafka-2", partition: 0, offset: 5 }],
    }],
    in_topic_not_stored: [{ producer_id: "run-w1", seq: 4, partition: 1, offset: 2 }],
  },
  by_broker: { "kafka-2": 10 },
  logs: [{
    broker: "kafka-3",
    dir: "/x",
    partitions: 2,
    segments: 2,
    records: 9,
    notes: ["t-0/00000000000000000000.log: a torn tail: <b>"],
  }],
  notes: [],
};

Deno.test("reports: the blame section shows each class, only when something was lost", () => {
  const data = failRun();
  data.results.blame = sample;
  const md = renderMarkdown(data.results);
  assert.match(md, /## Where the lost records were last seen/);
  assert.match(md, /- 5 acknowledged and on no broker's log: e\.g\. run-w0 seq 300/);
  assert.match(md, /- 10 on a broker's log, .*run-w0 seq 10 on kafka-2 \(partition 0 offset 5\)/);
  assert.match(
    md,
    /- 1 in the topic, not in the store: e\.g\. run-w1 seq 4 \(partition 1 offset 2\)/,
  );
  assert.match(md, /still on the logs of kafka-2 \(10\)/);
  assert.match(md, /note: kafka-3: .*a torn tail: \\<b\\>/);
  const html = renderHtml(data);
  assert.match(html, /<h2>Where the lost records were last seen<\/h2>/);
  assert.match(html, /a torn tail: &lt;b&gt;/);
  // Not attributed: said why.
  data.results.blame = {
    ...sample,
    unavailable: "the stack is external: its brokers' logs are not on this host",
    unattributed: 15,
    counts: { never_in_topic: 0, on_replica_not_leader: 0, in_topic_not_stored: 1 },
  };
  assert.match(
    renderMarkdown(data.results),
    /15 acknowledged and not in the topic, not attributed: the stack is external/,
  );
  // Nothing lost, or no blame: no section.
  data.results.blame = { ...sample, lost: 0 };
  assert.doesNotMatch(renderMarkdown(data.results), /last seen/);
  assert.doesNotMatch(renderHtml(data), /last seen/);
  data.results.blame = null;
  assert.doesNotMatch(renderMarkdown(data.results), /last seen/);
  // A blame read back damaged is left out where it is not of its shape, never thrown.
  for (
    const odd of [
      { lost: 3, counts: null, logs: [{ notes: 5 }] },
      { lost: 3, counts: { never_in_topic: 2 }, examples: { never_in_topic: [null, 7, {}] } },
      {
        lost: 1,
        counts: { on_replica_not_leader: 1 },
        examples: { on_replica_not_leader: [{ on: [null] }] },
        by_broker: "x",
        logs: [null],
        notes: {},
      },
    ]
  ) {
    data.results.blame = odd as unknown as BlameResult;
    renderMarkdown(data.results);
    renderHtml(data);
  }
});

Deno.test(
  { name: "blame: real brokers' segments, read back, and the three classes", ...slow },
  async () => {
    const { stack, release } = await testStack();
    const bootstrap = stack.endpoints.kafka.bootstrap.split(",");
    const kafka = kafkaClient(bootstrap, "blame-test");
    const admin = kafka.admin();
    const topic = `blame-${crypto.randomUUID().slice(0, 8)}`;
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    try {
      await admin.connect();
      await createTopicsAndWait(admin, {
        topics: [{ topic, numPartitions: 2, replicationFactor: 3 }],
      });
      await topicReady(bootstrap, topic);
      await producer.connect();
      // 300 events of one producer in batches of 10, every other batch gzip, to both partitions.
      const pid = "blame-w0";
      const serialize = eventSerializer(pid);
      const rng = new Rng("blame");
      const sent: { partition: number; offset: number; seq: number; value: string }[] = [];
      for (let b = 0; b < 30; b++) {
        const partition = b % 2;
        const values = Array.from({ length: 10 }, (_, i) => {
          const seq = b * 10 + i;
          return { seq, value: serialize(seq, Date.now(), baselineFlow(rng)) };
        });
        const [meta] = await producer.send({
          topic,
          acks: -1,
          compression: b % 4 < 2 ? CompressionTypes.None : CompressionTypes.GZIP,
          messages: values.map((v) => ({ partition, value: v.value })),
        });
        const base = Number(meta.baseOffset);
        values.forEach((v, i) => sent.push({ partition, offset: base + i, ...v }));
      }
      const logs = await brokerLogs(stack);
      assert.ok(Array.isArray(logs), "the local stack's logs are readable");
      assert.equal(logs.length, 3);

      // Every replica's log holds every record, at its offset, with its value.
      const expected = sent.map((s) => `${s.partition}@${s.offset} ${s.seq}`).sort();
      for (const log of logs) {
        const seen: string[] = [];
        const codecs = new Set<string>();
        for (const p of [0, 1]) {
          const dir = join(log.dir, `${topic}-${p}`);
          for await (const f of Deno.readDir(dir)) {
            if (!f.name.endsWith(".log")) continue;
            const summary = decodeSegment(await Deno.readFile(join(dir, f.name)), (r, batch) => {
              codecs.add(batch.compression);
              assert.equal(batch.magic, 2);
              const id = valueIdentity(r.value);
              assert.equal(id.producer_id, pid);
              assert.equal(
                new TextDecoder().decode(r.value!),
                sent.find((s) => s.seq === id.seq)?.value,
              );
              seen.push(`${p}@${r.offset} ${id.seq}`);
            }, { file: f.name });
            assert.equal(summary.stopped, null, `${log.broker} ${f.name}: ${summary.stopped}`);
            assert.deepEqual(summary.unreadable, []);
          }
        }
        assert.deepEqual(seen.sort(), expected, log.broker);
        assert.deepEqual([...codecs].sort(), ["gzip", "none"], log.broker);
      }

      // The ledger acknowledged 305 (5 never sent); the topic as read lacks seqs 10-19 (the logs
      // hold them); the store lacks 3 records of the topic.
      const ledger = new Ledger({ run_id: "blame", topic, seed: "1" });
      ledger.attempt(pid, 0, 304);
      ledger.ack(pid, 0, 304);
      const builder = new TopicTableBuilder();
      for (const p of [0, 1]) {
        const mine = sent.filter((s) => s.partition === p);
        builder.setBounds(p, 0, Math.max(...mine.map((s) => s.offset)) + 1);
        for (const s of mine.sort((a, b) => a.offset - b.offset)) {
          if (s.seq < 10 || s.seq > 19) builder.add(p, s.offset, s.value);
        }
      }
      const table = builder.finish();
      const inEvents = new Uint16Array(table.size).fill(1);
      for (const seq of [100, 101, 250]) inEvents[table.find(pid, seq)] = 0;
      const lost = lostRecords(ledger, table, { inEvents, inDlq: new Uint16Array(table.size) });
      const found = await searchLogs(logs, topic, lostBeforeKafka(lost));
      const result = blame(lost, found);
      assert.deepEqual(result.counts, {
        never_in_topic: 5,
        on_replica_not_leader: 10,
        in_topic_not_stored: 3,
      });
      assert.equal(result.lost, 18);
      assert.deepEqual(result.by_broker, { "kafka-1": 10, "kafka-2": 10, "kafka-3": 10 });
      const ten = sent.find((s) => s.seq === 10)!;
      assert.deepEqual(
        result.examples.on_replica_not_leader[0].on?.map((o) =>
          `${o.broker} ${o.partition}@${o.offset}`
        ).sort(),
        ["kafka-1", "kafka-2", "kafka-3"].map((b) => `${b} ${ten.partition}@${ten.offset}`),
      );
      assert.deepEqual(result.examples.never_in_topic.map((e) => e.seq), [300, 301, 302, 303, 304]);
      for (const r of result.logs) {
        assert.equal(r.partitions, 2, r.broker);
        assert.deepEqual(r.notes, [], r.broker);
      }
    } finally {
      await producer.disconnect().catch(() => {});
      await admin.deleteTopics({ topics: [topic] }).catch(() => {});
      await admin.disconnect().catch(() => {});
      await release();
    }
  },
);

Deno.test("brokerLogs: each broker's log.dirs as this host reads it, or why not", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "blame-logs-" });
  try {
    for (const id of [1, 2]) {
      await Deno.mkdir(join(dataDir, `kafka-${id}`));
      await Deno.writeTextFile(
        join(dataDir, `kafka-${id}`, "server.properties"),
        `node.id=${id}\nlog.dirs=${id === 1 ? "/data/log" : "/elsewhere/k2"}\nnum.partitions=6\n`,
      );
    }
    const fake = (kind: string) =>
      ({ kind, dataDir, brokerIds: () => [1, 2, 3] }) as unknown as Stack;
    assert.deepEqual(await brokerLogs(fake("local")), [
      { broker: "kafka-1", dir: "/data/log" },
      { broker: "kafka-2", dir: "/elsewhere/k2" },
      { broker: "kafka-3", dir: join(dataDir, "kafka-3", "log") }, // no properties: the default
    ]);
    // A container's /data is the host's <dataDir>/kafka-<id>.
    const docker = await brokerLogs(fake("docker"));
    assert.ok(Array.isArray(docker));
    assert.equal(docker[0].dir, join(dataDir, "kafka-1", "log"));
    assert.match(
      (await brokerLogs(fake("external")) as { unavailable: string }).unavailable,
      /the stack is external/,
    );
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

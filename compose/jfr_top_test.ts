import assert from "node:assert/strict";
import { formatSummary, parseJfrSamples, summarize } from "./jfr_top.ts";

const TEXT = `jdk.ExecutionSample {
  startTime = 22:21:03.654
  sampledThread = "data-plane-kafka-network-thread-1-ListenerName(CLIENT)-PLAINTEXT-2" (javaThreadId = 45)
  state = "STATE_RUNNABLE"
  stackTrace = [
    java.util.zip.CRC32C.updateBytes(int, byte[], int, int) line: 12
    org.apache.kafka.common.record.DefaultRecordBatch.checksum() line: 3
    kafka.server.ReplicaManager.appendRecords(long, short) line: 9
    ...
  ]
}

jdk.ExecutionSample {
  startTime = 22:21:03.655
  sampledThread = "ReplicaFetcherThread-0-2" (javaThreadId = 50)
  state = "STATE_RUNNABLE"
  stackTrace = [
    java.util.zip.CRC32C.updateBytes(int, byte[], int, int) line: 12
    kafka.server.ReplicaManager.appendRecords(long, short) line: 9
    kafka.server.ReplicaManager.appendRecords(long, short) line: 9
  ]
}

jdk.ExecutionSample {
  startTime = 22:21:03.656
  sampledThread = "ReplicaFetcherThread-0-3" (javaThreadId = 51)
  state = "STATE_RUNNABLE"
  stackTrace = [
    sun.nio.ch.SocketDispatcher.read0(FileDescriptor, long, int) line: 1
  ]
}
`;

Deno.test("jfr_top: samples parsed, self and inclusive Kafka time, threads grouped", () => {
  const samples = parseJfrSamples(TEXT);
  assert.equal(samples.length, 3);
  assert.deepEqual(samples[1], {
    thread: "ReplicaFetcherThread-0-2",
    frames: [
      "java.util.zip.CRC32C.updateBytes",
      "kafka.server.ReplicaManager.appendRecords",
      "kafka.server.ReplicaManager.appendRecords",
    ],
  });
  const s = summarize(samples, 10);
  assert.equal(s.total, 3);
  assert.deepEqual(s.self[0], { name: "java.util.zip.CRC32C.updateBytes", samples: 2 });
  // A method twice in one stack (recursion) counts once.
  assert.deepEqual(s.kafka[0], { name: "kafka.server.ReplicaManager.appendRecords", samples: 2 });
  assert.deepEqual(s.threads[0], { name: "ReplicaFetcherThread-#", samples: 2 });
  const text = formatSummary(s).join("\n");
  assert.match(text, /3 execution samples/);
  assert.match(text, /\s2\s+66\.7%\s+java\.util\.zip\.CRC32C\.updateBytes/);
  assert.deepEqual(parseJfrSamples("nothing here"), []);
});

/**
 * The sink across a rejoin kafkajs starts by itself (partitions added to the topic), driven by a
 * fake consumer that behaves as kafkajs does there (#31's lost batch):
 *
 * - the new generation's fetch position is not the committed offset: an offset resolved while
 *   the group rejoined lands in the new offset manager, so the first fetch of the new generation
 *   starts past the open batch the rejoin dropped;
 * - a batch handed to `eachBatch` before the rejoin goes on being handled after it.
 *
 * Each case checks the invariant: Kafka never holds a committed offset N of a partition unless
 * every offset below N is in a stored object.
 */

import assert from "node:assert/strict";
import type { ConsumerRunConfig, EachBatchPayload, Kafka } from "kafkajs";
import { parseBatchKey } from "./batcher.ts";
import { Sink } from "./sink.ts";
import type { ObjectStore } from "./store.ts";

const TOPIC = "t";

/** An in-memory store whose uploads can be held. */
function memoryStore() {
  const objects = new Map<string, Uint8Array>();
  let gate: Promise<void> | undefined;
  let release = (_fail: boolean) => {};
  let waiting = 0;
  const store = {
    bucket: "b",
    s3: {},
    client: {
      removeObject: (_bucket: string, name: string) => {
        objects.delete(name);
        return Promise.resolve();
      },
    },
    async putBytes(key: string, body: Uint8Array) {
      if (gate) {
        waiting++;
        const failed = await gate.then(() => false, () => true);
        waiting--;
        if (failed) throw new Error("503 SlowDown");
      }
      objects.set(key, body);
    },
    putText: () => Promise.resolve(),
    getBytes: (key: string) => Promise.resolve(objects.get(key)!),
    list: (prefix: string) =>
      Promise.resolve(
        [...objects.keys()].filter((k) => k.startsWith(prefix)).map((name) => ({ name, size: 1 })),
      ),
  } as unknown as ObjectStore;
  return {
    store,
    objects,
    hold() {
      gate = new Promise((resolve, reject) => (release = (fail) => fail ? reject() : resolve()));
    },
    /** Ends the hold; `fail`: the held uploads fail (they are retried). */
    release(fail = false) {
      gate = undefined;
      release(fail);
    },
    waiting: () => waiting,
  };
}

/** A consumer group of one member, as kafkajs runs it, with a topic of `end` records. */
class FakeGroup {
  readonly events = { REBALANCING: "rebalancing", GROUP_JOIN: "join", CRASH: "crash" };
  readonly committed = new Map<number, number>();
  /** The fetch position per partition (kafkajs: the offset manager's resolved offset). */
  readonly position = new Map<number, number>();
  readonly seeks: Array<[number, number]> = [];
  #handlers = new Map<string, Array<(e: unknown) => void>>();
  #config: ConsumerRunConfig | undefined;
  #pendingSeek = new Map<number, number>();
  /** The group's offsets cannot be read (a coordinator away). */
  adminFails = false;
  constructor(readonly end: number) {}

  kafka(): Kafka {
    const consumer = {
      events: this.events,
      on: (event: string, fn: (e: unknown) => void) => {
        this.#handlers.set(event, [...(this.#handlers.get(event) ?? []), fn]);
      },
      connect: () => Promise.resolve(),
      subscribe: () => Promise.resolve(),
      run: (config: ConsumerRunConfig) => {
        this.#config = config;
        return Promise.resolve();
      },
      seek: ({ partition, offset }: { partition: number; offset: string }) => {
        this.seeks.push([partition, Number(offset)]);
        this.#pendingSeek.set(partition, Number(offset));
      },
      commitOffsets: (offsets: Array<{ partition: number; offset: string }>) => {
        for (const { partition, offset } of offsets) {
          this.committed.set(partition, Number(offset));
        }
        return Promise.resolve();
      },
      pause: () => Promise.resolve(),
      disconnect: () => Promise.resolve(),
    };
    const admin = {
      connect: () => Promise.resolve(),
      disconnect: () => Promise.resolve(),
      fetchOffsets: () =>
        this.adminFails
          ? Promise.reject(new Error("COORDINATOR_NOT_AVAILABLE"))
          : Promise.resolve([{
            topic: TOPIC,
            partitions: [...this.committed].map(([partition, offset]) => ({
              partition,
              offset: String(offset),
            })),
          }]),
    };
    return { consumer: () => consumer, admin: () => admin } as unknown as Kafka;
  }

  /** The group rejoined; `stalePosition`: an offset resolved meanwhile went to the new manager. */
  rejoin(stalePosition: boolean) {
    if (!stalePosition) {
      for (const [p, c] of this.committed) this.position.set(p, c);
    }
    this.emit(this.events.GROUP_JOIN);
  }

  emit(event: string) {
    for (const fn of this.#handlers.get(event) ?? []) fn({ payload: {} });
  }

  /** One fetch of up to `count` records of `partition` from its position, handed to eachBatch. */
  fetch(partition: number, count: number): Promise<void> {
    const seek = this.#pendingSeek.get(partition);
    if (seek !== undefined) {
      this.position.set(partition, seek);
      this.#pendingSeek.delete(partition);
    }
    const from = this.position.get(partition) ?? 0;
    const to = Math.min(this.end, from + count);
    if (to <= from) return Promise.resolve();
    const messages = [];
    for (let o = from; o < to; o++) {
      messages.push({ offset: String(o), value: new TextEncoder().encode(`not json ${o}`) });
    }
    const payload = {
      batch: {
        topic: TOPIC,
        partition,
        highWatermark: String(this.end),
        messages,
        fetchedOffset: String(from),
        lastOffset: () => String(to - 1),
      },
      resolveOffset: (offset: string) => this.position.set(partition, Number(offset) + 1),
      heartbeat: () => Promise.resolve(),
      isRunning: () => true,
      isStale: () => this.#pendingSeek.has(partition),
      pause: () => () => {},
      commitOffsetsIfNecessary: () => Promise.resolve(),
      uncommittedOffsets: () => ({ topics: [] }),
    } as unknown as EachBatchPayload;
    return this.#config!.eachBatch!(payload);
  }
}

function sink(group: FakeGroup, store: ObjectStore): Sink {
  return new Sink({
    brokers: [],
    s3: { endpoint: "", accessKey: "", secretKey: "", bucket: "b" },
    topic: TOPIC,
    kafka: group.kafka(),
    store,
    codecWorker: false,
    retryBaseMs: 1,
    retryMaxMs: 2,
    batch: { maxEvents: 10, maxAgeMs: 60_000 },
  });
}

/** Offsets below Kafka's committed offset of `partition` that no stored object holds. */
function unstoredBelowCommit(objects: Map<string, Uint8Array>, committed: number): number[] {
  const stored = new Set<number>();
  for (const name of objects.keys()) {
    const k = parseBatchKey(name);
    if (!k) continue;
    for (let o = k.firstOffset; o <= k.lastOffset; o++) stored.add(o);
  }
  const missing = [];
  for (let o = 0; o < committed; o++) if (!stored.has(o)) missing.push(o);
  return missing;
}

async function drain(group: FakeGroup, partition: number) {
  for (let i = 0; i < 20 && (group.position.get(partition) ?? 0) < group.end; i++) {
    await group.fetch(partition, 10);
  }
}

/**
 * A sink on `group`'s topic of `end` records and an in-memory store, started, driven by `body`,
 * stopped whatever happened (a held upload is released first).
 */
async function withSink(
  end: number,
  body: (group: FakeGroup, mem: ReturnType<typeof memoryStore>) => Promise<void>,
) {
  const group = new FakeGroup(end);
  const mem = memoryStore();
  const s = sink(group, mem.store);
  await s.start();
  try {
    await body(group, mem);
  } finally {
    mem.release();
    await s.stop();
  }
  return { group, mem };
}

/** Waits until one upload is held by `mem.hold()`. */
async function heldUpload(mem: ReturnType<typeof memoryStore>) {
  for (let i = 0; i < 100 && mem.waiting() === 0; i++) await new Promise((r) => setTimeout(r, 5));
}

Deno.test("sink rejoin: a new generation fetching past the dropped open batch seeks back to the commit", async () => {
  const { group, mem } = await withSink(40, async (group) => {
    await group.fetch(0, 10); // 0..9: a full batch, stored and committed at 10
    await group.fetch(0, 5); // 10..14: open
    group.rejoin(true); // drops the open batch; kafkajs goes on fetching at 15
    await drain(group, 0);
  });
  const committed = group.committed.get(0) ?? 0;
  assert.equal(committed, 40, "the whole partition committed in the end");
  assert.deepEqual(unstoredBelowCommit(mem.objects, committed), [], "committed past a gap");
  assert.ok(group.seeks.some(([p, o]) => p === 0 && o === 10), JSON.stringify(group.seeks));
});

Deno.test("sink rejoin: a batch handed before the rejoin and handled across it stores nothing after it", async () => {
  const { group, mem } = await withSink(60, async (group, mem) => {
    await group.fetch(0, 10); // 0..9: stored and committed at 10
    mem.hold();
    const handling = group.fetch(0, 20); // 10..29: 10..19 fills a batch whose upload is held
    await heldUpload(mem);
    assert.equal(mem.waiting(), 1, "the upload of 10..19 is held");
    group.rejoin(true); // while 10..19 uploads; the handler then goes on with 20..29
    mem.release(true); // that upload fails: its retry is abandoned, 10..19 come again
    await handling;
    await drain(group, 0);
  });
  const committed = group.committed.get(0) ?? 0;
  assert.equal(committed, 60, "the whole partition committed in the end");
  assert.deepEqual(unstoredBelowCommit(mem.objects, committed), [], "committed past a gap");
});

Deno.test("sink rejoin: a plain rejoin (position at the commit) costs no seek", async () => {
  const { group, mem } = await withSink(30, async (group) => {
    await group.fetch(0, 10);
    await group.fetch(0, 5);
    group.rejoin(false);
    await drain(group, 0);
  });
  assert.equal(group.committed.get(0), 30);
  assert.deepEqual(unstoredBelowCommit(mem.objects, 30), []);
  assert.deepEqual(group.seeks, []);
});

Deno.test("sink rejoin: a batch handled across REBALANCING (the join comes later) takes nothing after it", async () => {
  const { group, mem } = await withSink(60, async (group, mem) => {
    await group.fetch(0, 10);
    mem.hold();
    const handling = group.fetch(0, 30); // 10..39: 10..19 fills a batch whose upload is held
    await heldUpload(mem);
    group.emit(group.events.REBALANCING); // drops what is open; the generation is still the same
    mem.release(true);
    await handling;
    group.rejoin(true);
    await drain(group, 0);
  });
  const committed = group.committed.get(0) ?? 0;
  assert.equal(committed, 60, "the whole partition committed in the end");
  assert.deepEqual(unstoredBelowCommit(mem.objects, committed), [], "committed past a gap");
});

Deno.test("sink rejoin: the group's offsets unreadable, its own commits still bring the partition back", async () => {
  const { group, mem } = await withSink(40, async (group) => {
    await group.fetch(0, 10);
    await group.fetch(0, 5);
    group.adminFails = true;
    group.rejoin(true);
    await drain(group, 0);
  });
  assert.equal(group.committed.get(0), 40);
  assert.deepEqual(unstoredBelowCommit(mem.objects, 40), []);
  assert.ok(group.seeks.some(([p, o]) => p === 0 && o === 10), JSON.stringify(group.seeks));
});

/**
 * The topic audit's file against damage and tampering: it round-trips under
 * its key; another key, an earlier format, a truncated or bit-flipped file,
 * and columns rewritten (a `next` cycle, an index out of range, an identity
 * index naming another record) are refused with a named error, at once.
 */

import assert from "node:assert/strict";
import { gunzipSync, gzipSync } from "node:zlib";
import { randomAuditKey } from "./digest.ts";
import {
  AuditKeyError,
  AuditUnreadableError,
  AuditVersionError,
  DIGEST_WORDS,
  TopicTable,
  TopicTableBuilder,
} from "./topic_table.ts";

/** A table with a producer's retry (seq 0 of r-w0 at offsets 0 and 2), and its key. */
function retryTable() {
  const key = randomAuditKey();
  const b = new TopicTableBuilder(key);
  const v = (seq: number) =>
    `{"producer_id":"r-w0","seq":${seq},"ts_ms":1700000000000,"src_ip":"10.0.0.1"}`;
  b.add(0, 0, v(0));
  b.add(0, 1, v(1));
  b.add(0, 2, v(0)); // the retry
  b.add(1, 0, "not json");
  b.setBounds(0, 0, 3);
  b.setBounds(1, 0, 1);
  return { key, table: b.finish() };
}

/** The decompressed file, its header's end, and where column `i` (in the file's order) starts. */
function layout(gz: Uint8Array) {
  const bytes = new Uint8Array(gunzipSync(gz));
  const nl = bytes.indexOf(10);
  const n = JSON.parse(new TextDecoder().decode(bytes.subarray(0, nl))).n as number;
  const sizes = [4, 8, 4, 8, 4, 4 * DIGEST_WORDS, 4 * DIGEST_WORDS, 1, 4, 8];
  const starts: number[] = [];
  let at = nl + 1;
  for (const s of sizes) {
    starts.push(at);
    at += s * n;
  }
  return { bytes, nl, n, starts, bySeqAt: at };
}

const NEXT = 8;
const PRODUCER = 2;

function rewritten(gz: Uint8Array, edit: (l: ReturnType<typeof layout>) => void): Uint8Array {
  const l = layout(gz);
  edit(l);
  return gzipSync(l.bytes); // the attacker writes a valid gzip: no CRC to catch it
}

function refused(gz: Uint8Array, key: Uint8Array, pattern: RegExp): void {
  const t0 = performance.now();
  assert.throws(() => TopicTable.decode(gz, key), (e: Error) => {
    assert.ok(e instanceof AuditUnreadableError, `${e.name}: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  });
  assert.ok(performance.now() - t0 < 5000, "refused at once");
}

Deno.test("TopicTable: encode and decode under its key, the key never in the file", () => {
  const { key, table } = retryTable();
  const gz = table.encode();
  const back = TopicTable.decode(gz, key);
  assert.equal(back.size, 4);
  assert.deepEqual(back.data.raw, table.data.raw);
  assert.deepEqual(back.data.canon, table.data.canon);
  assert.deepEqual(back.data.len, table.data.len);
  assert.deepEqual(back.data.next, table.data.next);
  assert.equal(back.find("r-w0", 0), 0);
  assert.equal(back.data.next[0], 2);
  const text = new TextDecoder("latin1").decode(gunzipSync(gz));
  const hex = Array.from(key, (b) => b.toString(16).padStart(2, "0")).join("");
  assert.ok(!text.includes(hex), "no key in hex");
  for (let i = 0; i + 8 <= key.length; i += 8) {
    assert.ok(!text.includes(new TextDecoder("latin1").decode(key.subarray(i, i + 8))));
  }
  // A lazy key is read only for a keyed audit.
  assert.equal(TopicTable.decode(gz, () => key).size, 4);
});

Deno.test("TopicTable.decode: another key is refused as such", () => {
  const { table } = retryTable();
  assert.throws(() => TopicTable.decode(table.encode(), randomAuditKey()), AuditKeyError);
});

Deno.test("TopicTable.decode: an audit of the murmur3 format is refused: re-run it", () => {
  const header = JSON.stringify({
    magic: "chaos-topic-audit/3",
    seed: 1234,
    producers: [],
    partitions: [],
    n: 0,
    bySeq: [],
  });
  const gz = gzipSync(new TextEncoder().encode(header + "\n"));
  let asked = false;
  assert.throws(
    () =>
      TopicTable.decode(gz, () => {
        asked = true;
        return randomAuditKey();
      }),
    (e: Error) =>
      e instanceof AuditVersionError &&
      /this run folder was written by another version of the harness; re-run it/.test(e.message),
  );
  assert.equal(asked, false, "no key needed to say so");
});

Deno.test("TopicTable.decode: damaged files are unreadable, never a crash or a hang", async (t) => {
  const { key, table } = retryTable();
  const gz = new Uint8Array(table.encode()); // a copy: a Buffer's slice() would be a view
  await t.step("truncated", () => {
    for (const len of [0, 1, 10, gz.length >> 1, gz.length - 1]) {
      refused(gz.subarray(0, len), key, /not gzip, or truncated/);
    }
  });
  await t.step("bit flips (gzip's CRC, or the header)", () => {
    for (let i = 0; i < gz.length; i += 7) {
      const flipped = gz.slice();
      flipped[i] ^= 1 << (i % 8);
      try {
        // A flip in the gzip header's mtime or OS byte changes nothing decoded: the same table.
        const back = TopicTable.decode(flipped, key);
        assert.deepEqual(back.data.raw, table.data.raw, `byte ${i}`);
        assert.deepEqual(back.data.next, table.data.next, `byte ${i}`);
      } catch (e) {
        assert.ok(
          e instanceof AuditUnreadableError || e instanceof AuditKeyError ||
            e instanceof AuditVersionError,
          `byte ${i}: ${e}`,
        );
      }
    }
  });
  await t.step("a column cut short, re-gzipped", () => {
    const l = layout(gz);
    refused(gzipSync(l.bytes.subarray(0, l.bytes.length - 3)), key, /header announces/);
    refused(gzipSync(l.bytes.subarray(0, l.nl)), key, /no header line/);
    refused(gzipSync(new TextEncoder().encode("{]\n")), key, /header is not JSON/);
    refused(gzipSync(new TextEncoder().encode("[1]\n")), key, /not a JSON object/);
  });
  await t.step("a one-record cycle in next (4 bytes rewritten)", () => {
    const bad = rewritten(gz, (l) => {
      new DataView(l.bytes.buffer).setInt32(l.starts[NEXT] + 2 * 4, 2, true); // 2 -> 2
    });
    refused(bad, key, /record 2's next copy is 2: not a later record .*cycle/);
  });
  await t.step("a two-record cycle in next", () => {
    const bad = rewritten(gz, (l) => {
      new DataView(l.bytes.buffer).setInt32(l.starts[NEXT] + 2 * 4, 0, true); // 0 -> 2 -> 0
    });
    refused(bad, key, /record 2's next copy is 0/);
  });
  await t.step("next out of range, or to another identity", () => {
    refused(
      rewritten(gz, (l) => new DataView(l.bytes.buffer).setInt32(l.starts[NEXT], 99, true)),
      key,
      /next copy is 99.*out of range/,
    );
    refused(
      rewritten(gz, (l) => new DataView(l.bytes.buffer).setInt32(l.starts[NEXT] + 4, 2, true)),
      key,
      /record 1's next copy \(2\) has another identity/,
    );
  });
  await t.step("a producer index out of range", () => {
    refused(
      rewritten(gz, (l) => new DataView(l.bytes.buffer).setInt32(l.starts[PRODUCER], 7, true)),
      key,
      /record 0 names producer 7/,
    );
  });
  await t.step("the identity index naming another record", () => {
    refused(
      rewritten(gz, (l) => new DataView(l.bytes.buffer).setInt32(l.bySeqAt, 1, true)),
      key,
      /r-w0 seq 0 is indexed at record 1/,
    );
  });
  await t.step("a header whose partitions do not tile the records", () => {
    const bad = rewritten(gz, (l) => {
      const header = JSON.parse(new TextDecoder().decode(l.bytes.subarray(0, l.nl)));
      header.partitions[1].first = 0;
      const h = new TextEncoder().encode(JSON.stringify(header));
      assert.equal(h.length, l.nl);
      l.bytes.set(h, 0);
    });
    refused(bad, key, /partition 1 claims records/);
  });
});

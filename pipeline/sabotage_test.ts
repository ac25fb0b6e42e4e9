import assert from "node:assert/strict";
import { UsageError } from "../lib/exit_codes.ts";
import type { Alert } from "./alert.ts";
import type { BatchRecord } from "./batcher.ts";
import { DETECTOR_KNOBS, resolveKnobs, SINK_KNOBS } from "./knobs.ts";
import {
  BACKDATE_MS,
  blockMatches,
  claimedCandidate,
  DETECTOR_SABOTAGES,
  ipv4,
  ledgerIncidents,
  NEVER_THRESHOLDS,
  sabotagedAlert,
  sabotagedBatch,
  sabotageMode,
  SINK_SABOTAGES,
  SPAM_THRESHOLDS,
  windowOf,
} from "./sabotage.ts";
import {
  DEFAULT_THRESHOLDS,
  DESTINATION_AGG,
  destinationMayFire,
  evaluateDestination,
  evaluateSource,
  SOURCE_AGG,
  sourceMayFire,
} from "./rules.ts";

const EVENT = JSON.stringify({
  producer_id: "r1-w0",
  seq: 7,
  ts_ms: 1_700_000_000_000,
  src_ip: "10.0.0.1",
  dst_ip: "10.2.0.20",
  bytes_out: 100,
});
const BAD: BatchRecord = { offset: 3, line: "{not json", ok: false, reason: "not JSON" };

Deno.test("sabotage knobs: none by default, labelled SABOTAGE, bad modes refused by name", () => {
  const sink = resolveKnobs(SINK_KNOBS, { env: {} });
  const detector = resolveKnobs(DETECTOR_KNOBS, { env: {} });
  assert.equal(sink.SINK_SABOTAGE, "none");
  assert.equal(detector.DETECTOR_SABOTAGE, "none");
  for (
    const [knobs, env] of [[SINK_KNOBS, "SINK_SABOTAGE"], [DETECTOR_KNOBS, "DETECTOR_SABOTAGE"]]
  ) {
    const knob = (knobs as typeof SINK_KNOBS).find((k) => k.env === env)!;
    assert.equal(knob.flag, "sabotage");
    assert.match(knob.help, /^SABOTAGE/);
  }
  assert.equal(
    resolveKnobs(SINK_KNOBS, { flags: { sabotage: "twice" }, env: {} }).SINK_SABOTAGE,
    "twice",
  );
  for (const mode of SINK_SABOTAGES) {
    assert.equal(sabotageMode("SINK_SABOTAGE", mode, SINK_SABOTAGES), mode);
  }
  for (const mode of DETECTOR_SABOTAGES) {
    assert.equal(sabotageMode("DETECTOR_SABOTAGE", mode, DETECTOR_SABOTAGES), mode);
  }
  assert.throws(
    () => sabotageMode("SINK_SABOTAGE", "spam", SINK_SABOTAGES),
    (e) =>
      e instanceof UsageError && /SINK_SABOTAGE must be one of none, .*got "spam"/.test(e.message),
  );
});

Deno.test("sabotagedBatch: the lines each sink mode stores", async (t) => {
  await t.step("none and commit-first store as the contract says", () => {
    for (const mode of ["none", "commit-first"] as const) {
      assert.deepEqual(sabotagedBatch(mode, [EVENT], [BAD]), { events: [EVENT], dlq: [BAD] });
    }
  });
  await t.step("ids-only keeps producer_id and seq of every valid event, nothing else", () => {
    const { events, dlq } = sabotagedBatch("ids-only", [EVENT, EVENT], [BAD]);
    assert.deepEqual(events.map((l) => JSON.parse(l)), [
      { producer_id: "r1-w0", seq: 7 },
      { producer_id: "r1-w0", seq: 7 },
    ]);
    assert.deepEqual(dlq, [BAD]);
  });
  await t.step("twice stores every valid event on two lines", () => {
    const other = EVENT.replace('"seq":7', '"seq":8');
    assert.deepEqual(sabotagedBatch("twice", [EVENT, other], []).events, [
      EVENT,
      EVENT,
      other,
      other,
    ]);
  });
  await t.step("no-dlq writes malformed records raw into events/, nothing into dlq/", () => {
    assert.deepEqual(sabotagedBatch("no-dlq", [EVENT], [BAD]), {
      events: [EVENT, "{not json"],
      dlq: [],
    });
    assert.deepEqual(sabotagedBatch("no-dlq", [], [BAD]).events, ["{not json"]);
  });
  await t.step("the batch's own arrays are left as they were", () => {
    const valid = [EVENT];
    sabotagedBatch("twice", valid, []);
    assert.deepEqual(valid, [EVENT]);
  });
});

Deno.test("blockMatches: the old incident blocks, by the side of the flow", () => {
  assert.deepEqual(blockMatches({ src_ip: "10.64.0.1", dst_ip: "93.184.216.34" }), [
    { rule: "exfil", entity: "10.64.0.1" },
  ]);
  assert.deepEqual(blockMatches({ src_ip: "10.127.255.255", dst_ip: "10.2.0.2" }), [
    { rule: "exfil", entity: "10.127.255.255" },
  ]);
  assert.deepEqual(blockMatches({ src_ip: "198.19.1.2", dst_ip: "10.2.0.20" }), [
    { rule: "port_scan", entity: "198.19.1.2" },
  ]);
  assert.deepEqual(blockMatches({ src_ip: "10.0.1.2", dst_ip: "10.96.0.1" }), [
    { rule: "latency_spike", entity: "10.96.0.1" },
  ]);
  assert.deepEqual(blockMatches({ src_ip: "10.0.1.2", dst_ip: "10.127.0.9" }), [
    { rule: "reset_storm", entity: "10.127.0.9" },
  ]);
  // Just outside each block, and baseline addresses: nothing.
  for (
    const e of [
      { src_ip: "10.63.255.255", dst_ip: "10.95.255.255" },
      { src_ip: "10.128.0.0", dst_ip: "10.128.0.0" },
      { src_ip: "198.17.255.255", dst_ip: "10.64.0.1" },
      { src_ip: "198.20.0.0", dst_ip: "198.18.0.1" },
      { src_ip: "10.0.3.4", dst_ip: "10.2.0.20" },
      { src_ip: "not an address", dst_ip: "10.96.0.300" },
    ]
  ) {
    assert.deepEqual(blockMatches(e), [], JSON.stringify(e));
  }
});

Deno.test("ipv4: dotted quads only", () => {
  assert.equal(ipv4("0.0.0.0"), 0);
  assert.equal(ipv4("255.255.255.255"), 2 ** 32 - 1);
  assert.equal(ipv4("10.64.0.1"), 10 * 2 ** 24 + 64 * 2 ** 16 + 1);
  for (const bad of ["10.0.0", "10.0.0.256", "a.b.c.d", "10.0.0.1.2", "", "1.2.3.-4"]) {
    assert.equal(ipv4(bad), undefined, bad);
  }
});

Deno.test("sabotagedAlert: the wide window and the backdated firing", () => {
  const alert: Alert = {
    alert_id: "a1",
    rule: "exfil",
    entity: "10.0.0.1",
    window_start_ms: 1_700_000_000_000,
    window_end_ms: 1_700_000_060_000,
    value: 60_000_000,
    threshold: 50_000_000,
    fired_at_ms: 1_700_000_030_000,
    early: true,
  };
  assert.deepEqual(sabotagedAlert("wide-window", alert), {
    ...alert,
    window_start_ms: 0,
    window_end_ms: Number.MAX_SAFE_INTEGER,
  });
  assert.deepEqual(sabotagedAlert("backdate", alert), {
    ...alert,
    fired_at_ms: 1_700_000_030_000 - 10 * 60_000,
  });
  assert.equal(BACKDATE_MS, 600_000);
  for (const mode of ["none", "spam", "block", "ledger"] as const) {
    assert.equal(sabotagedAlert(mode, alert), alert);
  }
});

Deno.test("claimed alerts: the threshold as the value, a window of the contract's shape", () => {
  assert.deepEqual(claimedCandidate("port_scan", "198.18.0.1", DEFAULT_THRESHOLDS), {
    rule: "port_scan",
    entity: "198.18.0.1",
    value: 100,
    threshold: 100,
  });
  assert.equal(claimedCandidate("reset_storm", "x", DEFAULT_THRESHOLDS).value, 0.5);
  const w = { sizeMs: 60_000, slideMs: 10_000 };
  assert.deepEqual(windowOf(1_700_000_012_345, w), {
    start: 1_700_000_010_000,
    end: 1_700_000_070_000,
  });
  assert.deepEqual(windowOf(20_000, w), { start: 20_000, end: 80_000 });
});

Deno.test("spam thresholds fire every rule on one event; never-thresholds on nothing", () => {
  const quiet = {
    protocol: "TCP" as const,
    dst_port: 443,
    dst_ip: "10.2.0.20",
    bytes_out: 1,
    latency_ms: 12,
    tcp_flags: "ACK",
    http_status: 200,
  };
  const src = SOURCE_AGG.add(SOURCE_AGG.create(), quiet);
  const dst = DESTINATION_AGG.add(DESTINATION_AGG.create(), quiet);
  assert.deepEqual(evaluateSource("10.0.0.1", src, SPAM_THRESHOLDS).map((c) => c.rule), [
    "exfil",
    "port_scan",
  ]);
  assert.deepEqual(evaluateDestination("10.2.0.20", dst, SPAM_THRESHOLDS).map((c) => c.rule), [
    "latency_spike",
    "reset_storm",
  ]);
  const loud = { ...quiet, bytes_out: 1e12, latency_ms: 9000, tcp_flags: "ACK,RST" };
  let bigSrc = SOURCE_AGG.create();
  let bigDst = DESTINATION_AGG.create();
  for (let port = 0; port < 1000; port++) {
    bigSrc = SOURCE_AGG.add(bigSrc, { ...loud, dst_port: port });
    bigDst = DESTINATION_AGG.add(bigDst, loud);
  }
  // Closed windows are merged only where the cheap bound says a rule could hold.
  assert.ok(sourceMayFire([src], SPAM_THRESHOLDS));
  assert.ok(destinationMayFire([dst], SPAM_THRESHOLDS));
  assert.ok(!sourceMayFire([bigSrc], NEVER_THRESHOLDS));
  assert.ok(!destinationMayFire([bigDst], NEVER_THRESHOLDS));
  assert.deepEqual(evaluateSource("10.0.0.1", bigSrc, NEVER_THRESHOLDS), []);
  assert.deepEqual(evaluateDestination("10.2.0.20", bigDst, NEVER_THRESHOLDS), []);
});

Deno.test("ledgerIncidents: the incidents of a ledger, nothing from anything else", () => {
  const ledger = {
    version: 1,
    run_id: "r1",
    producers: {},
    incidents: [
      {
        id: "i1",
        kind: "exfil",
        entity: "10.64.0.1",
        start_ms: 1000,
        end_ms: 21000,
        events: 40,
        scheduled: true,
      },
      { id: "i2", kind: "reset_storm", entity: "10.112.0.1", start_ms: 5000, end_ms: 9000 },
      { id: "i3", kind: "meteor", entity: "10.0.0.1", start_ms: 1, end_ms: 2 },
      { id: "i4", kind: "port_scan", entity: 7, start_ms: 1, end_ms: 2 },
      { id: "i5", kind: "port_scan", entity: "198.18.0.1", start_ms: "soon", end_ms: 2 },
      null,
    ],
  };
  assert.deepEqual(ledgerIncidents(JSON.stringify(ledger)), [
    { kind: "exfil", entity: "10.64.0.1", start_ms: 1000, end_ms: 21000 },
    { kind: "reset_storm", entity: "10.112.0.1", start_ms: 5000, end_ms: 9000 },
  ]);
  for (const text of ["", "not json", "null", "[]", '{"incidents":{}}', '{"version":1}']) {
    assert.deepEqual(ledgerIncidents(text), [], text);
  }
});

import assert from "node:assert/strict";
import { fetchRate } from "./_consumer_perf.ts";

Deno.test("fetchRate reads fetch.nMsg.sec from ConsumerPerformance's CSV line, or nothing", () => {
  const out = [
    "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, " +
    "rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec",
    "2026-12-06 16:40:01:123, 2026-12-06 16:40:05:456, 572.2046, 132.0568, 1500000, " +
    "346180.4754, 3021, 1312, 436.1316, 1143292.6829",
  ].join("\n");
  assert.equal(fetchRate(out), 1143292.6829);
  assert.equal(fetchRate("WARN: nothing consumed\n"), undefined);
  assert.equal(fetchRate(""), undefined);
});

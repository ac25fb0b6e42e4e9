/**
 * Background traffic on its own, against the rules: one full window of the flagship's rate
 * (10,000 events/s over 60 s) keeps every entity far from every threshold, which is what lets
 * incidents use baseline addresses (traffic.ts has the worst case per rule).
 */

import assert from "node:assert/strict";
import { Rng } from "./rng.ts";
import {
  DEFAULT_THRESHOLDS as T,
  DESTINATION_AGG,
  type DestinationAgg,
  evaluateDestination,
  evaluateSource,
  latencyQuantile,
  SOURCE_AGG,
  type SourceAgg,
} from "./rules.ts";
import {
  baselineFlow,
  destinationShare,
  DEVICE_COUNT,
  DEVICE_IPS,
  EXTERNAL,
  RESOLVERS,
  SERVICE_COUNT,
  SERVICE_IPS,
} from "./traffic.ts";

Deno.test("destination shares: every destination's, summing to the whole", () => {
  const all = [...SERVICE_IPS, ...RESOLVERS, ...EXTERNAL];
  const sum = all.reduce((s, ip) => s + destinationShare(ip), 0);
  assert.ok(Math.abs(sum - 1) < 1e-9, `${sum}`);
  assert.equal(destinationShare(SERVICE_IPS[0]), 0.25 / SERVICE_COUNT);
  assert.equal(destinationShare(DEVICE_IPS[0]), 0, "devices are never destinations");
  assert.equal(destinationShare("10.64.0.1"), 0);
  assert.equal(new Set(SERVICE_IPS).size, SERVICE_COUNT);
  assert.equal(new Set(DEVICE_IPS).size, DEVICE_COUNT);
  assert.ok(!SERVICE_IPS.some((s) => (RESOLVERS as readonly string[]).includes(s)));
  // The shares are what baseline traffic does.
  const rng = new Rng("shares");
  const n = 400_000;
  let toResolvers = 0;
  let toServices = 0;
  const services = new Set(SERVICE_IPS);
  for (let i = 0; i < n; i++) {
    const dst = baselineFlow(rng).dst_ip;
    if ((RESOLVERS as readonly string[]).includes(dst)) toResolvers++;
    else if (services.has(dst)) toServices++;
  }
  assert.ok(Math.abs(toResolvers / n - 0.15) < 0.005, `${toResolvers / n} to the resolvers`);
  assert.ok(Math.abs(toServices / n - 0.25) < 0.005, `${toServices / n} to the services`);
});

Deno.test("one 60 s window at 10,000 events/s: no entity comes near a rule", () => {
  const rng = new Rng("window");
  const bySource = new Map<string, SourceAgg>();
  const byDestination = new Map<string, DestinationAgg>();
  for (let i = 0; i < 600_000; i++) {
    const f = baselineFlow(rng);
    let s = bySource.get(f.src_ip);
    if (!s) bySource.set(f.src_ip, s = SOURCE_AGG.create());
    SOURCE_AGG.add(s, f);
    let d = byDestination.get(f.dst_ip);
    if (!d) byDestination.set(f.dst_ip, d = DESTINATION_AGG.create());
    DESTINATION_AGG.add(d, f);
  }
  const fired = [
    ...[...bySource].flatMap(([ip, acc]) => evaluateSource(ip, acc, T)),
    ...[...byDestination].flatMap(([ip, acc]) => evaluateDestination(ip, acc, T)),
  ];
  assert.deepEqual(fired, []);

  // How far from the thresholds the busiest entity of each rule stays.
  const weighted = (a: SourceAgg) => a.bytes + a.udp53Bytes * T.udp53Weight;
  const maxBytes = Math.max(...[...bySource.values()].map(weighted));
  const meanBytes = [...bySource.values()].reduce((s, a) => s + weighted(a), 0) / bySource.size;
  const maxPorts = Math.max(...[...bySource.values()].map((a) => a.maxPorts));
  const dests = [...byDestination.values()].filter((a) => a.count >= T.resetMinCount);
  const maxShare = Math.max(...dests.map((a) => a.resets / a.count));
  const maxP95 = Math.max(...dests.map((a) => latencyQuantile(a, 0.95)));
  const serviceCounts = SERVICE_IPS.map((ip) => byDestination.get(ip)?.count ?? 0);
  const meanService = serviceCounts.reduce((s, n) => s + n, 0) / serviceCounts.length;
  console.log(
    `bytes out per source: max ${maxBytes}, mean ${
      Math.round(meanBytes)
    } (threshold ${T.exfilBytes}); ` +
      `ports max ${maxPorts}; reset share max ${maxShare.toFixed(3)}; p95 max ${maxP95} ms; ` +
      `events per service ${meanService.toFixed(1)}`,
  );
  assert.equal(bySource.size, DEVICE_COUNT);
  assert.ok(maxBytes < T.exfilBytes / 10, `a source sent ${maxBytes} weighted bytes`);
  assert.ok(meanBytes < T.exfilBytes / 50, `mean ${meanBytes}`);
  assert.ok(maxPorts <= 7, `${maxPorts} ports to one destination`);
  assert.ok(maxP95 <= 50, `p95 ${maxP95} ms`);
  assert.ok(maxShare < 0.2, `reset share ${maxShare}`);
  assert.ok(Math.abs(meanService - 75) < 3, `${meanService} events per service`);
});

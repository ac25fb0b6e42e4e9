import assert from "node:assert/strict";
import {
  CpuMeter,
  machineCpu,
  ownRssMb,
  parseProcStat,
  type ProcStat,
  readProcesses,
  treeCpu,
  treeRss,
} from "./cpu.ts";

Deno.test("parseProcStat: a command with spaces and parentheses", () => {
  const line = "4242 (java (kafka) x) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 50 3 1 20 0 1 0";
  assert.deepEqual(parseProcStat(line), { pid: 4242, ppid: 17, cpuS: 3 });
  assert.equal(parseProcStat("garbage"), undefined);
  // The whole line: rss (field 24) is 2,500 pages.
  const full = "7 (redis-server) S 1 7 7 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0 99 " +
    "123456789 2500 18446744073709551615";
  assert.deepEqual(parseProcStat(full), { pid: 7, ppid: 1, cpuS: 3, rssB: 2500 * 4096 });
});

const procs: ProcStat[] = [
  { pid: 1, ppid: 0, cpuS: 100 },
  { pid: 10, ppid: 1, cpuS: 5 }, // the harness
  { pid: 11, ppid: 10, cpuS: 7 }, // a broker it started
  { pid: 12, ppid: 11, cpuS: 1 }, // a child of the broker
  { pid: 13, ppid: 10, cpuS: 2 }, // a helper of the harness, no root
  { pid: 20, ppid: 1, cpuS: 4 }, // a container's main process
  { pid: 21, ppid: 20, cpuS: 6 },
];

Deno.test("treeCpu: each root with what is below it; the harness counts only itself", () => {
  const roots = new Map([["harness", 10], ["kafka-1", 11], ["minio", 20], ["gone", 99]]);
  const totals = treeCpu(procs, roots, new Set(["harness"]));
  assert.deepEqual(Object.fromEntries(totals), { harness: 5, "kafka-1": 8, minio: 10 });
});

Deno.test("CpuMeter: deltas add up, and a restarted node's new process adds on", () => {
  const meter = new CpuMeter();
  meter.sample(new Map([["kafka-1", 11]]), new Set(), procs);
  const later = procs.map((p) => p.pid === 11 ? { ...p, cpuS: 10 } : p);
  meter.sample(new Map([["kafka-1", 11]]), new Set(), later);
  assert.equal(meter.totals()["kafka-1"], 11); // 8 + (11 - 8)
  meter.sample(new Map([["kafka-1", undefined]]), new Set(), later); // killed
  const restarted = [...later, { pid: 30, ppid: 1, cpuS: 2 }];
  meter.sample(new Map([["kafka-1", 30]]), new Set(), restarted);
  assert.equal(meter.totals()["kafka-1"], 13);
});

Deno.test("treeRss and CpuMeter's peaks: a tree's resident bytes summed, the largest kept", () => {
  const mem = procs.map((p) => ({ ...p, rssB: p.pid * 2 ** 20 }));
  const roots = new Map([["harness", 10], ["kafka-1", 11], ["minio", 20]]);
  assert.deepEqual(Object.fromEntries(treeRss(mem, roots, new Set(["harness"]))), {
    harness: 10 * 2 ** 20,
    "kafka-1": 23 * 2 ** 20,
    minio: 41 * 2 ** 20,
  });
  const meter = new CpuMeter();
  meter.sample(new Map([["kafka-1", 11]]), new Set(), mem);
  const smaller = mem.map((p) => ({ ...p, rssB: 2 ** 20 }));
  meter.sample(new Map([["kafka-1", 11]]), new Set(), smaller);
  assert.deepEqual(meter.rssMb(), { "kafka-1": 2 });
  assert.deepEqual(meter.peakRssMb(), { "kafka-1": 23 });
  const status = "Name:\tdeno\nVmHWM:\t  204800 kB\nVmRSS:\t 1024 kB\n";
  assert.equal(ownRssMb("VmHWM", status), 200);
  assert.equal(ownRssMb("VmRSS", status), 1);
  assert.equal(ownRssMb("VmHWM", "Name:\tdeno\n"), null);
  assert.ok((ownRssMb("VmHWM") ?? 0) > 10, "this process's own peak");
});

Deno.test("machineCpu and readProcesses read this machine", () => {
  const m = machineCpu("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 ...");
  assert.deepEqual(m, { busyS: 1.5, idleS: 8.5 });
  const live = machineCpu();
  assert.ok(live.busyS > 0 && live.idleS > 0);
  const mine = readProcesses().find((p) => p.pid === Deno.pid);
  assert.ok(mine && mine.cpuS >= 0);
});

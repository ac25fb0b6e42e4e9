/**
 * The Redis guard's finding and its reading of replies, without Redis (the
 * guard against a real Redis: redis_guard_redis_test.ts).
 */

import assert from "node:assert/strict";
import {
  busyFinding,
  type BusyIncident,
  excuseSlow,
  excuseStalls,
  FAULT_GRACE_MS,
  heldFinding,
  intakeBytes,
  isBusy,
  mainThreadCpuMs,
  parseSlowlog,
  procCpuMs,
  redisFaultSpans,
  type RedisStall,
  type SlowCommand,
  slowFinding,
} from "./redis_guard.ts";
import type { RedisValue } from "../compose/redis_wire.ts";
import { verdictOf } from "./outcome.ts";

function incident(ended_by: BusyIncident["ended_by"], blocked_ms: number): BusyIncident {
  return {
    busy_at_ms: 1_700_000_000_000,
    blocked_ms,
    ended_by,
    answer:
      "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
    kill_answers: ["+OK"],
  };
}

Deno.test("isBusy: BUSY only, not BUSYKEY, BUSYGROUP, other errors or no answer", () => {
  assert.ok(isBusy({ type: "-", text: "BUSY Redis is busy running a script." }));
  assert.ok(!isBusy({ type: "-", text: "BUSYKEY Target key name already exists." }));
  assert.ok(!isBusy({ type: "-", text: "BUSYGROUP Consumer Group name already exists" }));
  assert.ok(!isBusy({ type: "-", text: "LOADING Redis is loading the dataset in memory" }));
  assert.ok(!isBusy({ type: "+", text: "BUSY " }));
  assert.ok(!isBusy(undefined));
});

Deno.test("busyFinding: none without a block the pipeline is blamed for", () => {
  assert.equal(busyFinding([]), undefined);
  // A script that ended by itself before the guard could end it is only recorded.
  assert.equal(busyFinding([incident("by itself", 1200)]), undefined);
});

Deno.test("busyFinding: one block, its length and how it was ended", () => {
  assert.equal(
    busyFinding([incident("SCRIPT KILL", 4230)]),
    "the pipeline blocked Redis with a script for 4.2 s (Redis answered BUSY to the harness; " +
      "ended by SCRIPT KILL)",
  );
  assert.match(
    busyFinding([incident("restart", 1000)])!,
    /a restart of Redis .*SCRIPT KILL could not/,
  );
  assert.match(
    busyFinding([incident("not ended", 1000)])!,
    /for 1\.0 s \(Redis answered BUSY to the harness; not ended by the harness\)$/,
  );
});

Deno.test("busyFinding: several blocks, summed, the longest named, each way of ending once", () => {
  const finding = busyFinding([
    incident("SCRIPT KILL", 1500),
    incident("by itself", 9000),
    incident("FUNCTION KILL", 2500),
    incident("SCRIPT KILL", 1000),
  ]);
  assert.equal(
    finding,
    "the pipeline blocked Redis with scripts 3 times, 5.0 s in all, the longest 2.5 s " +
      "(Redis answered BUSY to the harness; ended by SCRIPT KILL, FUNCTION KILL)",
  );
});

const T0 = 1_700_000_000_000;

function slow(id: number, endS: number, ms: number, command = "SUNIONSTORE"): SlowCommand {
  return {
    id,
    ended_at_ms: T0 + endS * 1000,
    duration_ms: ms,
    command,
    args: 3,
    client: "127.0.0.1:5000",
  };
}

Deno.test("parseSlowlog: Redis's entries, their command upper case and bounded; junk left out", () => {
  const bulk = (text: string): RedisValue => ({ type: "$", text });
  const int = (n: number): RedisValue => ({ type: ":", text: String(n) });
  const reply: RedisValue = [
    [
      int(7),
      int(1_700_000_000),
      int(1_234_567),
      [bulk("sunionstore"), bulk("d"), bulk("a")],
      bulk(
        "127.0.0.1:5000",
      ),
      bulk("sink\x1b[2J"),
    ],
    [int(6), int(1_700_000_000), int(20_000), [bulk("x".repeat(100))], bulk("1.2.3.4:1"), bulk("")],
    [int(5), bulk("not a time"), int(1), [bulk("GET")], bulk(""), bulk("")],
    { type: "+", text: "OK" },
  ];
  const parsed = parseSlowlog(reply);
  assert.equal(parsed.length, 2);
  assert.deepEqual(parsed[0], {
    id: 7,
    ended_at_ms: 1_700_000_000_000,
    duration_ms: 1234.6,
    command: "SUNIONSTORE",
    args: 3,
    client: "127.0.0.1:5000 (sink?[2J)",
  });
  assert.equal(parsed[1].command.length, 41, "40 characters and an ellipsis");
  assert.deepEqual(parseSlowlog({ type: "-", text: "NOPERM" }), []);
  assert.deepEqual(parseSlowlog(undefined), []);
});

Deno.test("slowFinding: one command of 0.5 s or more fails, shorter ones alone do not", () => {
  assert.equal(slowFinding([]), undefined);
  assert.equal(slowFinding([slow(1, 1, 499), slow(2, 30, 400)]), undefined);
  assert.equal(
    slowFinding([slow(1, 1, 120), slow(2, 5, 2100)]),
    "the pipeline blocked Redis with slow commands: 1 command of 0.5 s or more, the longest " +
      "SUNIONSTORE for 2.1 s from 127.0.0.1:5000 (Redis's SLOWLOG; SUNIONSTORE)",
  );
});

Deno.test("slowFinding: commands just under the bound, back to back, add up within 10 s", () => {
  // Eight scripts of 450 ms in 4 s: 3.6 s of 10 s.
  const backToBack = Array.from({ length: 8 }, (_, i) => slow(i, i * 0.5, 450, "EVAL"));
  assert.match(
    slowFinding(backToBack)!,
    /^the pipeline blocked Redis with slow commands: commands that took 3\.6 s of 10\.0 s \(8 of them\), the longest EVAL/,
  );
  // The same eight spread over 80 s never hold Redis 3 s in a window.
  const spread = Array.from({ length: 8 }, (_, i) => slow(i, i * 11, 450, "EVAL"));
  assert.equal(slowFinding(spread), undefined);
});

Deno.test("excuseSlow: the harness's commands, a BUSY script and a fault on Redis are not blamed", () => {
  const busy: BusyIncident = { ...incident("SCRIPT KILL", 1500), busy_at_ms: T0 + 10_000 };
  const faults = [{ from_ms: T0 + 40_000, to_ms: T0 + 50_000, what: "pause redis" }];
  const judged = excuseSlow([
    slow(1, 1, 900, "CONFIG"),
    slow(2, 11, 2600, "EVAL"), // the BUSY script's own entry, logged when it was killed
    slow(3, 11, 2600, "SUNIONSTORE"), // not a script: a BUSY block excuses no other command
    slow(4, 51, 10_000, "SET"), // was running when Redis was frozen
    slow(5, 70, 700, "EVAL"),
  ], { faults, busy: [busy] });
  assert.deepEqual(judged.map((c) => c.excused), [
    "the harness's command",
    "a script counted as BUSY",
    undefined,
    "while the fault pause redis held Redis",
    undefined,
  ]);
  assert.match(slowFinding(judged)!, /2 commands of 0\.5 s or more, the longest SUNIONSTORE/);
  // What a script called is logged just before it: counted as the script, never twice; a longer
  // command before a script is no call of it.
  const script = slow(12, 90, 300, "EVAL");
  // (Redis 7.0 logs what a script called as the scripts' client, `?:0`.)
  const calls = excuseSlow([
    slow(9, 90, 30, "TIME"),
    { ...slow(10, 90, 40, "TIME"), client: "?:0" },
    slow(11, 90, 2000, "SUNIONSTORE"),
    { ...slow(12, 90, 20, "GET"), client: "127.0.0.1:6000" },
    { ...script, id: 13 },
  ], { faults: [], busy: [] });
  assert.deepEqual(calls.map((c) => c.excused), [
    "called by a script (counted as it)",
    "called by a script (counted as it)",
    undefined,
    undefined,
    undefined,
  ]);
  assert.equal(slowFinding(judged.filter((c) => c.excused)), undefined);
});

Deno.test("redisFaultSpans: a fault on Redis from its injection to its heal's end, or now", () => {
  const ev = (time: number, type: string, what: string, op: number, target: string) => ({
    time: T0 + time,
    type,
    what,
    op,
    value: { fault: op < 10 ? 0 : 1, target },
  });
  const spans = redisFaultSpans([
    ev(1000, "invoke", "fault:pause", 1, "redis"),
    ev(1100, "ok", "fault:pause", 1, "redis"),
    ev(9000, "invoke", "heal:pause", 2, "redis"),
    ev(9100, "ok", "heal:pause", 2, "redis"),
    ev(20_000, "invoke", "fault:kill", 11, "redis"),
    ev(20_000, "invoke", "fault:kill", 12, "sink"),
  ], T0 + 30_000);
  assert.deepEqual(spans, [
    { from_ms: T0 + 1000, to_ms: T0 + 9100, what: "pause redis" },
    { from_ms: T0 + 20_000, to_ms: T0 + 30_000, what: "kill redis" },
  ]);
});

Deno.test("mainThreadCpuMs: Redis's main thread's user and system time, none without them", () => {
  const info = "# CPU\r\nused_cpu_sys:1.5\r\nused_cpu_user:9.9\r\nused_cpu_sys_children:0.0\r\n" +
    "used_cpu_sys_main_thread:1.250000\r\nused_cpu_user_main_thread:4.5\r\n";
  assert.equal(mainThreadCpuMs(info), 5750);
  assert.equal(mainThreadCpuMs("# CPU\r\nused_cpu_sys:1.5\r\nused_cpu_user:9.9\r\n"), undefined);
  assert.equal(
    mainThreadCpuMs("used_cpu_sys_main_thread:x\r\nused_cpu_user_main_thread:1\r\n"),
    undefined,
  );
  assert.equal(mainThreadCpuMs(undefined), undefined);
});

function stall(atS: number, waited: number, cpu: number, span = waited + 500): RedisStall {
  return { at_ms: T0 + atS * 1000, waited_ms: waited, span_ms: span, cpu_ms: cpu };
}

Deno.test("heldFinding: Redis held on its CPU past 3 s within 10 s fails the run", () => {
  assert.equal(heldFinding([]), undefined);
  // A flood of pipelined short scripts: the harness waited 7.3 s, Redis ran 5.7 s of 8.3 s.
  assert.equal(
    heldFinding([stall(20, 7300, 5700, 8300)]),
    "the pipeline held Redis busy: the harness's PING waited 7.3 s of 10.0 s (once; the longest " +
      "7.3 s, while Redis's main thread was on its CPU 5.7 s of 8.3 s: commands too short for " +
      "the SLOWLOG, run back to back)",
  );
  // Stalls of 1.8 s, two within 10 s: 3.6 s.
  assert.match(
    heldFinding([stall(10, 1800, 1800), stall(14, 1800, 1900)])!,
    /^the pipeline held Redis busy: the harness's PING waited 3\.6 s of 10\.0 s \(2 times;/,
  );
  // The same spread over a minute never add up to 3 s in 10 s; one of 2.9 s alone neither.
  assert.equal(heldFinding([stall(10, 1800, 1800), stall(30, 1800, 1800)]), undefined);
  assert.equal(heldFinding([stall(10, 2900, 2900)]), undefined);
  // Counted as the harness's wait (Redis on a busy host gets a share of a CPU only).
  assert.match(heldFinding([stall(10, 2000, 600), stall(12, 1400, 400)])!, /waited 3\.4 s/);
});

Deno.test("excuseStalls: Redis off its CPU (host starved, frozen), a BUSY script, a fault", () => {
  const busy: BusyIncident = { ...incident("SCRIPT KILL", 2000), busy_at_ms: T0 + 40_000 };
  const faults = [{ from_ms: T0 + 60_000, to_ms: T0 + 70_000, what: "pause redis" }];
  const judged = excuseStalls([
    stall(10, 4000, 4200), // Redis ran: a client's commands
    stall(20, 4000, 12), // frozen (SIGSTOP) or starved: not on its CPU
    stall(30, 4000, 1100, 4500), // under a quarter of the span on its CPU: not blamed
    stall(41, 2500, 2500), // the BUSY script's time
    stall(65, 4000, 4000), // while a fault held Redis
  ], { faults, busy: [busy] });
  assert.deepEqual(judged.map((s) => s.excused), [
    undefined,
    "Redis was not on its CPU and took in little (the host's doing, not a client's)",
    "Redis was not on its CPU and took in little (the host's doing, not a client's)",
    "a script counted as BUSY",
    "while the fault pause redis held Redis",
  ]);
  assert.match(heldFinding(judged)!, /PING waited 4\.0 s of 10\.0 s \(once;/);
  assert.equal(heldFinding(judged.slice(1)), undefined);
});

const MB = 1024 * 1024;

Deno.test("excuseStalls: off its CPU but taking in big values (its append-only file) is blamed", () => {
  // 300 MB SETs with appendfsync always: Redis writes and fsyncs in its main thread, off its CPU.
  const judged = excuseStalls([
    { ...stall(10, 2400, 400, 2500), bytes_in: 600 * MB },
    { ...stall(14, 1900, 700, 2000), bytes_in: 300 * MB },
    // The host's disk is slow (brokers' fsyncs) under an honest load: little taken in.
    { ...stall(40, 2400, 100, 2500), bytes_in: 2 * MB },
  ], { faults: [], busy: [] });
  assert.deepEqual(judged.map((s) => s.excused), [
    undefined,
    undefined,
    "Redis was not on its CPU and took in little (the host's doing, not a client's)",
  ]);
  assert.match(
    heldFinding(judged)!,
    /waited 4\.3 s of 10\.0 s \(2 times; the longest 2\.4 s, .*Redis took in 600 MB meanwhile: big values, written and fsynced to its append-only file\)$/,
  );
  assert.equal(heldFinding(judged.slice(2)), undefined);
});

Deno.test("excuseStalls: a fault on Redis excuses the wait until its heal's end and a grace only", () => {
  const faults = [{ from_ms: T0 + 60_000, to_ms: T0 + 70_000, what: "kill redis" }];
  const [clipped, within, before] = excuseStalls([
    // Waiting from 65 s to 80 s: excused until 72 s (heal 70 s + 2 s), 8 s blamed.
    stall(80, 15_000, 12_000, 15_500),
    // Answered within the grace: all of it excused.
    stall(71.5, 6000, 5000),
    // Ended before the fault: nothing excused.
    stall(59, 4000, 4000),
  ], { faults, busy: [] });
  assert.equal(clipped.excused, undefined);
  assert.equal(clipped.excused_ms, 7000);
  assert.equal(within.excused, "while the fault kill redis held Redis");
  assert.equal(before.excused ?? before.excused_ms, undefined);
  assert.match(
    heldFinding([clipped])!,
    /PING waited 8\.0 s of 10\.0 s \(once; the longest 8\.0 s,/,
  );
  // Ended just past the grace: the short rest alone is no finding.
  const [short] = excuseStalls([stall(70 + (FAULT_GRACE_MS + 500) / 1000, 9000, 9000)], {
    faults,
    busy: [],
  });
  assert.equal(short.excused_ms, 8500);
  assert.equal(heldFinding([short]), undefined);
});

Deno.test("heldFinding: a wait still open when the run ended is a stall", () => {
  const open: RedisStall = { ...stall(100, 90_000, 80_000, 91_000), open: true };
  assert.match(
    heldFinding(excuseStalls([open], { faults: [], busy: [] }))!,
    /waited 90\.0 s of 10\.0 s \(once; the longest 90\.0 s, still unanswered when the run ended,/,
  );
  // The engine makes the guard's finding at its stop the submission's failure: a Redis held
  // through the rollback (whose "every node healthy" wait failed) fails the run, not unknown.
  const finding = heldFinding(excuseStalls([open], { faults: [], busy: [] }));
  const rollback =
    "the run failed: the stack was not healthy 90s after the rollback: redis (running)";
  assert.equal(
    verdictOf({ submissionFailure: finding, aborted: false, reasons: [rollback] }),
    "fail",
  );
  // Frozen (not on its CPU) through the end: nobody's.
  const frozen: RedisStall = { ...stall(100, 90_000, 30, 91_000), open: true };
  assert.equal(heldFinding(excuseStalls([frozen], { faults: [], busy: [] })), undefined);
});

Deno.test("procCpuMs: a redis-server thread's utime + stime in ms; another program's is none", () => {
  const fields = "S 1 2 3 4 5 6 7 8 9 10 1234 56 0 0 20 0 5 0 100 0 0";
  assert.equal(procCpuMs(`4242 (redis-server) ${fields}\n`), 12900);
  assert.equal(procCpuMs(`4242 (redis-server *:6379) ${fields}`), 12900);
  assert.equal(procCpuMs(`4242 (sh) ${fields}`), undefined, "a wrapper or a reused pid");
  assert.equal(procCpuMs(`4242 (a) (redis-server) ${fields}`), undefined);
  assert.equal(procCpuMs("4242 (redis-server) S 1"), undefined);
  assert.equal(procCpuMs(""), undefined);
});

Deno.test("intakeBytes: the append-only file's size and the clients' input, none without them", () => {
  const info = "# Persistence\r\naof_enabled:1\r\naof_current_size:123456\r\n# Stats\r\n" +
    "total_net_input_bytes:987\r\n";
  assert.deepEqual(intakeBytes(info), { aof: 123456, input: 987 });
  assert.deepEqual(intakeBytes("# CPU\r\nused_cpu_sys:1.5\r\n"), {
    aof: undefined,
    input: undefined,
  });
  assert.deepEqual(intakeBytes(undefined), { aof: undefined, input: undefined });
});

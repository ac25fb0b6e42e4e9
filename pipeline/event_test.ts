/**
 * The hand-written fast path of `parseEvent` against the schema it stands in
 * for: it may only accept what the schema accepts, and it must accept the
 * events the pipeline really carries (else it would be dead weight).
 */

import assert from "node:assert/strict";
import { generatorFlows } from "./_event_fixtures.ts";
import { parseEvent, plainlyValid, TelemetryEvent } from "./event.ts";
import { corrupt, MALFORMED_KINDS } from "./malformed.ts";
import { Rng } from "./rng.ts";

const zodAccepts = (data: unknown) => TelemetryEvent.safeParse(data).success;

function realEvents(): TelemetryEvent[] {
  const flows = generatorFlows("event-test");
  return flows.map((flow, seq) => ({ producer_id: "r-w0", seq, ts_ms: 1.7e12 + seq, ...flow }));
}

Deno.test("plainlyValid accepts every event the generator makes, as the schema does", () => {
  for (const event of realEvents()) {
    const data = JSON.parse(JSON.stringify(event));
    assert.ok(zodAccepts(data), JSON.stringify(event));
    assert.ok(plainlyValid(data), `fast path refused ${JSON.stringify(event)}`);
    const r = parseEvent(JSON.stringify(event));
    assert.ok(r.ok);
    assert.deepEqual(r.event, event);
  }
});

Deno.test("plainlyValid never accepts what the schema refuses", () => {
  const base = realEvents()[0] as unknown as Record<string, unknown>;
  const tooLong = (n: number) => "x".repeat(n);
  // Each field pushed just past (and just inside) its rule, or to another type.
  const variants: Record<string, unknown[]> = {
    producer_id: ["", tooLong(128), tooLong(129), 7, null],
    seq: [0, -1, 1.5, -0, 2 ** 53, 2 ** 53 - 1, "1", null, Infinity, NaN],
    ts_ms: [1, 0, -5, 1.2e12 + 0.5, "1700000000000"],
    src_ip: ["10.0.0.1", "256.0.0.1", "10.0.0", "010.0.0.1", "10.0.0.1 ", "::1", "", 167772161],
    dst_ip: ["0.0.0.0", "255.255.255.255", "1.2.3.4.5", "a.b.c.d"],
    src_port: [0, 65535, 65536, -1, 80.5, "80"],
    dst_port: [53, 70000],
    protocol: ["TCP", "UDP", "ICMP", "tcp", "SCTP", ""],
    bytes_out: [0, -1, 1e21, 3.5],
    bytes_in: [0, -1, "9"],
    packets: [0, -2, null],
    latency_ms: [0, 0.1, -0.1, -1, Infinity, "12", null],
    tcp_flags: ["", "SYN", "SYN,ACK", "SYN,", ",SYN", "syn", "SYN ACK", "RST,RST", 1],
    http_status: [null, 100, 599, 99, 600, 200.5, "200"],
    action: ["ACCEPT", "REJECT", "DROP", "accept"],
    flow_direction: ["ingress", "egress", "both"],
    account_id: ["123456789012", "12345678901", "1234567890123", "12345678901a", 123456789012],
    vpc_id: ["", tooLong(64), tooLong(65)],
    interface_id: ["", tooLong(65)],
    region: ["", tooLong(32), tooLong(33)],
  };
  let accepted = 0;
  let refused = 0;
  const slow: string[] = [];
  const check = (data: unknown, label: string) => {
    const fast = plainlyValid(data);
    const zod = zodAccepts(data);
    assert.ok(!fast || zod, `fast path accepted what the schema refuses: ${label}`);
    if (zod && !fast) slow.push(label);
    fast ? accepted++ : refused++;
  };
  for (const [field, values] of Object.entries(variants)) {
    for (const value of values) check({ ...base, [field]: value }, `${field}=${String(value)}`);
    const { [field]: _, ...missing } = base;
    check(missing, `without ${field}`);
  }
  check({ ...base, extra: 1 }, "an extra key");
  check({ ...base, ["__proto__"]: 1 }, "a __proto__ key");
  check(
    JSON.parse(JSON.stringify(base).replace("{", '{"__proto__":{"x":1},')),
    "a parsed __proto__",
  );
  for (const other of [null, [], "text", 5, [base]]) check(other, JSON.stringify(other));
  const rng = new Rng("corrupt");
  for (const event of realEvents().slice(0, 400)) {
    for (const kind of MALFORMED_KINDS) {
      const { raw } = corrupt(rng, event, kind);
      let data: unknown;
      try {
        data = JSON.parse(raw);
      } catch {
        continue;
      }
      check(data, `${kind}: ${raw}`);
    }
  }
  // The rules' edges inside the schema are taken by the fast path too: it is exact here, not
  // merely cautious.
  assert.deepEqual(slow, []);
  assert.ok(accepted >= 30 && refused > 1000, `${accepted} accepted, ${refused} refused`);
});

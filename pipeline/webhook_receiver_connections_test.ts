/**
 * The webhook receiver's connection bounds (connection_gate.ts): a cap on open connections (one
 * more closed at once, counted, kept as a record the alert check fails) and an idle timeout, on
 * real sockets.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { checkAlerts } from "../validate/alerts.ts";
import { parseDeliveries } from "../validate/deliveries.ts";
import { sign, SIGNATURE_HEADER } from "./alert.ts";
import { WebhookReceiver } from "./webhook_receiver.ts";

const SECRET = "s3cret";

/** Everything the server sends on `conn` until it closes it (the test's own timeout guards). */
async function readToEnd(conn: Deno.Conn): Promise<string> {
  const buf = new Uint8Array(4096);
  let text = "";
  for (;;) {
    const n = await conn.read(buf).catch(() => null);
    if (n === null) return text;
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
}

/** POSTs a signed alert; its status. */
async function post(rx: WebhookReceiver, id: string): Promise<number> {
  const body = JSON.stringify({ alert_id: id });
  const res = await fetch(rx.url, {
    method: "POST",
    headers: { "idempotency-key": id, [SIGNATURE_HEADER]: sign(body, SECRET) },
    body,
  });
  await res.body?.cancel();
  return res.status;
}

Deno.test("the receiver closes connections over its cap at once, counts them, and the alert check fails them", async () => {
  const dir = await Deno.makeTempDir();
  const logFile = join(dir, "deliveries.jsonl");
  const rx = new WebhookReceiver({ secret: SECRET, logFile, maxConnections: 4 });
  const held: Deno.Conn[] = [];
  try {
    for (let i = 0; i < 4; i++) held.push(await Deno.connect({ port: rx.port }));
    // Held open, idle: the cap is reached once the gate accepted them all.
    while (rx.connections().open < 4) await new Promise((r) => setTimeout(r, 10));
    for (let i = 0; i < 3; i++) {
      const extra = await Deno.connect({ port: rx.port });
      const answer = await readToEnd(extra);
      extra.close();
      assert.match(answer, /^HTTP\/1\.1 503 /);
      assert.match(answer, /too many connections/);
    }
    assert.equal(rx.refused().connections, 3);
    assert.deepEqual(rx.connections(), { max: 4, peak: 4, open: 4 });
    const record = rx.deliveries().find((d) => d.refused === "too_many_connections");
    assert.equal(record?.not_kept, 3);
    // The held ones closed, deliveries go through again.
    for (const c of held.splice(0)) c.close();
    while (rx.connections().open > 0) await new Promise((r) => setTimeout(r, 10));
    assert.equal(await post(rx, "a1"), 200);
  } finally {
    for (const c of held) c.close();
    await rx.stop();
  }
  const read = parseDeliveries(await Deno.readTextFile(logFile), { secret: SECRET });
  assert.equal(read.filter((d) => d.refused === "too_many_connections").length, 1);
  const r = checkAlerts([], read);
  assert.equal(r.verdict, "fail");
  assert.ok((r.refused_connections ?? 0) >= 1);
  assert.match(r.reasons.join(), /more connections open to the webhook receiver than it may/);
  // The same deliveries without the cap's record: no such finding (the check can tell).
  const clean = checkAlerts([], read.filter((d) => d.refused !== "too_many_connections"));
  assert.equal(clean.refused_connections, undefined);
  assert.doesNotMatch(clean.reasons.join(), /connections open/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("the receiver closes a connection that sends nothing, but not one owed a slow answer", async () => {
  const rx = new WebhookReceiver({ secret: SECRET, idleMs: 100 });
  try {
    const idle = await Deno.connect({ port: rx.port });
    assert.equal(await readToEnd(idle), "");
    idle.close();
    while (rx.connections().open > 0) await new Promise((r) => setTimeout(r, 10));
    // An answer delayed on purpose (a fault's) well past the idle timeout still arrives.
    rx.failUntil(Date.now() + 60_000, { status: 200, delayMs: 600 });
    assert.equal(await post(rx, "slow"), 200);
    assert.equal(rx.refused().connections, 0);
    assert.equal(rx.deliveries().length, 1);
  } finally {
    await rx.stop();
  }
});

Deno.test("a request stalled half-way is closed once it waited longer than any answer may take", async () => {
  const rx = new WebhookReceiver({ secret: SECRET, idleMs: 100 });
  try {
    const conn = await Deno.connect({ port: rx.port });
    await conn.write(new TextEncoder().encode("POST /alerts HTTP/1.1\r\nhost: x\r\n"));
    await readToEnd(conn); // ends: closed by the receiver (else the test times out)
    conn.close();
    assert.equal(rx.deliveries().length, 0);
  } finally {
    await rx.stop();
  }
});

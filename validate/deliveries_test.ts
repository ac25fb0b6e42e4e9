import assert from "node:assert/strict";
import { sign } from "../pipeline/alert.ts";
import { type Delivery, deliveryLine } from "../pipeline/webhook_receiver.ts";
import { checkAlerts } from "./alerts.ts";
import { parseDeliveries } from "./deliveries.ts";
import { UnreadableEvidenceError } from "./unreadable.ts";

const SECRET = "s3cret";
const ALERT = {
  alert_id: "a1",
  rule: "exfil",
  entity: "10.0.0.1",
  window_start_ms: 60_000,
  window_end_ms: 120_000,
  value: 2,
  threshold: 1,
  fired_at_ms: 121_000,
};

/** A delivery as the receiver keeps it (signed with `secret`). */
function kept(body: unknown, secret = SECRET, extra: Partial<Delivery> = {}): Delivery {
  const raw = JSON.stringify(body);
  return {
    received_at_ms: 1_700_000_000_000,
    body,
    raw,
    signature: sign(raw, secret),
    idempotency_key: (body as { alert_id?: string }).alert_id ?? null,
    signature_ok: secret === SECRET,
    answered: secret === SECRET ? 200 : 401,
    ...extra,
  };
}

const file = (ds: Delivery[]) => ds.map(deliveryLine).join("\n") + "\n";

Deno.test("parseDeliveries gives back what the receiver saw, signatures verified again", () => {
  const live = [kept(ALERT), kept({ ...ALERT, alert_id: "forged" }, "wrong")];
  const read = parseDeliveries(file(live), { secret: SECRET });
  assert.deepEqual(read.map((d) => d.signature_ok), [true, false]);
  assert.deepEqual(read.map((d) => d.body), live.map((d) => d.body));
  // Same findings as the live run.
  assert.deepEqual(checkAlerts([], read), checkAlerts([], live));
});

Deno.test("parseDeliveries never trusts a recorded signature_ok or body", async (t) => {
  await t.step("signature_ok true on a forged delivery", () => {
    const forged = { ...kept(ALERT, "wrong"), signature_ok: true, answered: 200 };
    const [d] = parseDeliveries(JSON.stringify(forged), { secret: SECRET });
    assert.equal(d.signature_ok, false);
    assert.equal(checkAlerts([], [d]).unsigned, 1);
  });
  await t.step("a raw body edited under its old signature", () => {
    const d = kept(ALERT);
    const edited = { ...d, raw: d.raw!.replace("10.0.0.1", "10.0.0.2") };
    assert.equal(
      parseDeliveries(JSON.stringify(edited), { secret: SECRET })[0].signature_ok,
      false,
    );
  });
  await t.step("a body field beside the raw one is ignored", () => {
    const line = JSON.stringify({ ...kept(ALERT), body: { ...ALERT, entity: "10.9.9.9" } });
    const [d] = parseDeliveries(line, { secret: SECRET });
    assert.equal((d.body as typeof ALERT).entity, "10.0.0.1");
  });
  await t.step("a line without a raw body: unreadable (unless an older run is trusted)", () => {
    const line = JSON.stringify({ ...kept(ALERT), raw: undefined });
    assert.throws(() => parseDeliveries(line, { secret: SECRET }), /line 1: no raw body/);
    const [d] = parseDeliveries(line, { secret: null, legacy: true });
    assert.equal(d.signature_ok, true);
  });
});

Deno.test("a corrupt deliveries.jsonl is unreadable evidence naming its line", async (t) => {
  const good = deliveryLine(kept(ALERT));
  const bad: [string, string, RegExp][] = [
    ["torn last line", `${good}\n${good.slice(0, 40)}`, /line 2: not JSON/],
    ["not JSON", `${good}\nhello`, /line 2: not JSON/],
    ["binary", `${good}\n\u0000\ufffd\u0001`, /line 2/],
    [
      "received_at_ms 1e16",
      good.replace(/"received_at_ms":\d+/, '"received_at_ms":1e16'),
      /line 1: received_at_ms: must be an epoch ms/,
    ],
    ["answered 1e300", good.replace(/"answered":200/, '"answered":1e300'), /line 1: answered/],
    ["an array", "[1,2]", /line 1/],
    [
      "a raw body over the cap",
      JSON.stringify({ ...kept(ALERT), raw: "x".repeat(70_000) }),
      /line 1: raw/,
    ],
    ["a line of 2 MB", `"${"x".repeat(2_000_000)}"`, /line 1: a line of/],
  ];
  for (const [name, text, message] of bad) {
    await t.step(name, () => {
      assert.throws(
        () => parseDeliveries(text, { secret: SECRET }),
        (e: unknown) =>
          e instanceof UnreadableEvidenceError && message.test(e.message) &&
          e.message.startsWith("unreadable evidence: deliveries.jsonl line"),
      );
    });
  }
});

Deno.test("refused deliveries: counted; the receiver's cap hit fails the alert check", () => {
  const tooLarge: Delivery = {
    received_at_ms: 1_700_000_000_000,
    body: null,
    raw: null,
    signature: null,
    idempotency_key: null,
    signature_ok: null,
    answered: 413,
    refused: "too_large",
  };
  const overCap: Delivery = { ...tooLarge, answered: 429, refused: "over_cap", not_kept: 7 };
  const read = parseDeliveries(file([kept(ALERT), tooLarge]), { secret: SECRET });
  const r = checkAlerts([], read);
  assert.equal(r.refused_too_large, 1);
  assert.equal(r.malformed, 0);
  // A refused body adds no finding of its own.
  assert.deepEqual(r.reasons, checkAlerts([], [kept(ALERT)]).reasons);
  const capped = checkAlerts([], parseDeliveries(file([kept(ALERT), overCap]), { secret: SECRET }));
  assert.equal(capped.verdict, "fail");
  assert.equal(capped.not_kept, 7);
  assert.match(capped.reasons.join(), /hit its cap: 7 deliveries were not kept/);
});

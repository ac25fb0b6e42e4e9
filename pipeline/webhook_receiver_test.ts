import assert from "node:assert/strict";
import { validateScenario } from "../chaos/scenario.ts";
import { sign, SIGNATURE_HEADER } from "./alert.ts";
import { OnPurpose, type ReceiverOptions, WebhookReceiver } from "./webhook_receiver.ts";

const SECRET = "s3cret";

/** POSTs one signed alert body; the status and how long the answer took. */
async function post(
  rx: WebhookReceiver,
  id: string,
  secret = SECRET,
): Promise<{ status: number; ms: number }> {
  const body = JSON.stringify({ alert_id: id });
  const t0 = performance.now();
  const res = await fetch(rx.url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "idempotency-key": id,
      [SIGNATURE_HEADER]: sign(body, secret),
    },
    body,
  });
  await res.body?.cancel();
  return { status: res.status, ms: performance.now() - t0 };
}

/** The statuses of `n` deliveries made one after another to a new receiver. */
async function answers(options: ReceiverOptions, n: number): Promise<number[]> {
  const rx = new WebhookReceiver({ port: 0, secret: SECRET, ...options });
  try {
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push((await post(rx, `a${i}`)).status);
    return out;
  } finally {
    await rx.stop();
  }
}

Deno.test("WebhookReceiver answers 200 to every signed delivery by default", async () => {
  assert.deepEqual(await answers({}, 20), new Array(20).fill(200));
  const none = { seed: 1, error_share: 0, slow_share: 0 };
  assert.deepEqual(await answers({ misbehave: none }, 20), new Array(20).fill(200));
});

Deno.test("WebhookReceiver answers a seeded share of deliveries 503 without a fault", async (t) => {
  const misbehave = { seed: 7, error_share: 0.3 };
  const first = await answers({ misbehave }, 60);
  await t.step("that share, the rest 200", () => {
    assert.equal(first.filter((s) => s === 503).length, 18);
    assert.ok(first.every((s) => s === 503 || s === 200), first.join(","));
  });
  await t.step("the same seed answers the same deliveries the same way", async () => {
    assert.deepEqual(await answers({ misbehave }, 60), first);
  });
  await t.step("another seed answers others", async () => {
    assert.notDeepEqual(await answers({ misbehave: { ...misbehave, seed: 8 } }, 60), first);
  });
  await t.step("503s are recorded, marked, and are not taken", async () => {
    const rx = new WebhookReceiver({ port: 0, secret: SECRET, misbehave });
    try {
      for (let i = 0; i < 20; i++) await post(rx, `a${i}`);
      const d = rx.deliveries();
      assert.equal(d.length, 20);
      for (const x of d) {
        assert.equal(x.on_purpose, x.answered === 503 ? "error" : undefined);
        assert.equal(x.signature_ok, true);
      }
      assert.ok(d.some((x) => x.answered === 503));
    } finally {
      await rx.stop();
    }
  });
});

Deno.test("OnPurpose spreads each share evenly, at places drawn from the seed", async (t) => {
  const run = (seed: number, error_share: number, slow_share: number, n: number) => {
    const o = new OnPurpose({ seed, error_share, slow_share });
    return Array.from({ length: n }, () => o.next());
  };
  await t.step("exactly the shares over the run", () => {
    const a = run(11, 0.25, 0.15, 100);
    assert.equal(a.filter((x) => x === "error").length, 25);
    assert.equal(a.filter((x) => x === "slow").length, 15);
  });
  await t.step("any run of deliveries in a row holds its share, rounded", () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const a = run(seed, 0.3, 0.2, 200);
      for (const n of [2, 5, 10, 33]) {
        for (let from = 0; from + n <= a.length; from++) {
          const errors = a.slice(from, from + n).filter((x) => x === "error").length;
          assert.ok(Math.abs(errors - n * 0.3) < 1, `seed ${seed}: ${errors} of ${n} from ${from}`);
        }
      }
    }
  });
  await t.step("half: one of any two deliveries", () => {
    for (let seed = 0; seed < 50; seed++) {
      assert.equal(run(seed, 0.5, 0, 2).filter((x) => x === "error").length, 1);
    }
  });
  await t.step("the same seed, the same places; others elsewhere", () => {
    assert.deepEqual(run(3, 0.2, 0.1, 50), run(3, 0.2, 0.1, 50));
    const places = new Set(Array.from({ length: 20 }, (_, s) => run(s, 0.2, 0.1, 50).join()));
    assert.ok(places.size >= 10, `${places.size} patterns for 20 seeds`);
  });
  await t.step("no share, no misbehaviour; all errors", () => {
    assert.ok(run(1, 0, 0, 50).every((x) => x === undefined));
    assert.ok(run(1, 0.9, 0.1, 50).every((x) => x !== undefined));
  });
});

Deno.test("WebhookReceiver answers a share slowly, still 200", async () => {
  const rx = new WebhookReceiver({
    port: 0,
    secret: SECRET,
    misbehave: { seed: 3, slow_share: 1, slow_ms: 300 },
  });
  try {
    const a = await post(rx, "slow-1");
    assert.equal(a.status, 200);
    assert.ok(a.ms >= 280, `answered after ${a.ms} ms`);
    assert.equal(rx.deliveries()[0].on_purpose, "slow");
    assert.equal(rx.deliveries()[0].answered, 200);
  } finally {
    await rx.stop();
  }
});

Deno.test("WebhookReceiver: a retrying client gets its alert taken in the end", async () => {
  const rx = new WebhookReceiver({
    port: 0,
    secret: SECRET,
    misbehave: { seed: 5, error_share: 0.9 },
  });
  try {
    let tries = 0;
    while ((await post(rx, "same-alert")).status !== 200) tries++;
    assert.ok(tries < 200);
    const taken = rx.deliveries().filter((d) => d.answered === 200);
    assert.equal(taken.length, 1);
    assert.equal(rx.deliveries().length, tries + 1);
  } finally {
    await rx.stop();
  }
});

Deno.test("WebhookReceiver: a fault and a bad signature decide over the misbehaviour", async () => {
  const rx = new WebhookReceiver({
    port: 0,
    secret: SECRET,
    misbehave: { seed: 7, error_share: 0.5 },
  });
  try {
    assert.equal((await post(rx, "forged", "wrong")).status, 401);
    rx.failUntil(Number.MAX_SAFE_INTEGER, { status: 500 });
    for (let i = 0; i < 5; i++) assert.equal((await post(rx, `f${i}`)).status, 500);
    rx.failUntil(0);
    const d = rx.deliveries();
    assert.equal(d[0].answered, 401);
    assert.ok(d.every((x) => x.on_purpose === undefined), JSON.stringify(d));
  } finally {
    await rx.stop();
  }
});

Deno.test("a scenario's webhook key is validated strictly", async (t) => {
  const base = {
    name: "w",
    description: "d",
    seed: 1,
    workload: { eps: 100, duration: "30s" },
  };
  await t.step("absent: the receiver never misbehaves", () => {
    assert.deepEqual(validateScenario(base).webhook, {
      error_share: 0,
      slow_share: 0,
      slow_ms: 1500,
    });
  });
  await t.step("given", () => {
    const w = { error_share: 0.2, slow_share: 0.1, slow_ms: 800 };
    assert.deepEqual(validateScenario({ ...base, webhook: w }).webhook, w);
  });
  const bad: [unknown, RegExp][] = [
    [{ error_share: 1 }, /webhook\.error_share.*at most 0\.9/s],
    [{ error_share: -0.1 }, /webhook\.error_share/],
    [{ slow_share: 1.5 }, /webhook\.slow_share/],
    [{ error_share: 0.6, slow_share: 0.6 }, /webhook\.slow_share.*more than 1/s],
    [{ slow_ms: 60_000 }, /webhook\.slow_ms/],
    [{ slow_ms: 1.5 }, /webhook\.slow_ms/],
    [{ error_rate: 0.2 }, /webhook.*error_rate/s],
  ];
  for (const [webhook, message] of bad) {
    await t.step(`refused: ${JSON.stringify(webhook)}`, () => {
      assert.throws(() => validateScenario({ ...base, webhook }), message);
    });
  }
});

Deno.test("WebhookReceiver keeps each delivery's raw body and signature header", async () => {
  const log = await Deno.makeTempFile();
  const rx = new WebhookReceiver({ port: 0, secret: SECRET, logFile: log });
  try {
    await post(rx, "a1");
    const d = rx.deliveries()[0];
    const raw = JSON.stringify({ alert_id: "a1" });
    assert.equal(d.raw, raw);
    assert.equal(d.signature, sign(raw, SECRET));
    const line = JSON.parse((await Deno.readTextFile(log)).trim());
    assert.equal(line.raw, raw);
    assert.equal(line.signature, sign(raw, SECRET));
    assert.equal(line.body, undefined, "the file keeps the raw body, not a parsed one");
  } finally {
    await rx.stop();
    await Deno.remove(log);
  }
});

Deno.test("WebhookReceiver is bounded", async (t) => {
  const postBody = async (rx: WebhookReceiver, body: BodyInit, headers: HeadersInit = {}) => {
    const res = await fetch(rx.url, { method: "POST", headers, body });
    await res.body?.cancel();
    return res.status;
  };
  await t.step("a body over the cap is refused (413), counted, kept without its body", async () => {
    const log = await Deno.makeTempFile();
    const rx = new WebhookReceiver({ port: 0, secret: SECRET, logFile: log, maxBodyBytes: 1024 });
    try {
      assert.equal(await postBody(rx, "x".repeat(1025)), 413);
      // Streamed without a length: refused once past the cap, not read whole.
      let sent = 0;
      const endless = new ReadableStream<Uint8Array>({
        pull(c) {
          sent += 4096;
          if (sent > 64 * 1024 * 1024) c.close();
          else c.enqueue(new Uint8Array(4096));
        },
      });
      assert.equal(await postBody(rx, endless).catch(() => 413), 413);
      assert.ok(sent < 64 * 1024 * 1024, `the receiver read ${sent} bytes`);
      assert.equal((await post(rx, "fits")).status, 200);
      assert.deepEqual(rx.refused(), { too_large: 2, over_cap: 0, connections: 0 });
      const d = rx.deliveries();
      assert.deepEqual(d.map((x) => x.answered), [413, 413, 200]);
      assert.deepEqual(d.map((x) => x.refused), ["too_large", "too_large", undefined]);
      assert.equal(d[0].raw, null);
      assert.equal((await Deno.readTextFile(log)).trim().split("\n").length, 3);
    } finally {
      await rx.stop();
      await Deno.remove(log);
    }
  });
  await t.step(
    "past the deliveries it keeps: 429, one record of the cap, the rest counted",
    async () => {
      const log = await Deno.makeTempFile();
      const rx = new WebhookReceiver({ port: 0, secret: SECRET, logFile: log, maxDeliveries: 5 });
      try {
        const answers = [];
        for (let i = 0; i < 9; i++) answers.push((await post(rx, `a${i}`)).status);
        assert.deepEqual(answers, [200, 200, 200, 200, 200, 429, 429, 429, 429]);
        assert.deepEqual(rx.refused(), { too_large: 0, over_cap: 4, connections: 0 });
        const d = rx.deliveries();
        assert.equal(d.length, 6);
        assert.equal(d[5].refused, "over_cap");
        assert.equal(d[5].not_kept, 4);
        const lines = (await Deno.readTextFile(log)).trim().split("\n");
        assert.equal(lines.length, 6, "the file holds the kept ones and the cap's record");
        assert.equal(JSON.parse(lines[5]).refused, "over_cap");
      } finally {
        await rx.stop();
        await Deno.remove(log);
      }
    },
  );
  await t.step("past the bytes it keeps: the same", async () => {
    // A delivery counts its body and headers as sent: 17 + 2 (key) + 64 (signature) bytes.
    const rx = new WebhookReceiver({ port: 0, secret: SECRET, maxKeptBytes: 200 });
    try {
      assert.equal((await post(rx, "a1")).status, 200); // 83 bytes
      assert.equal((await post(rx, "a2")).status, 200);
      assert.equal((await post(rx, "a3")).status, 429);
      assert.deepEqual(rx.refused(), { too_large: 0, over_cap: 1, connections: 0 });
    } finally {
      await rx.stop();
    }
  });
});

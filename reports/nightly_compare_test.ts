import assert from "node:assert/strict";
import type { Figures, NightSummary } from "./nightly.ts";
import { COMPARE_SCRIPT, compareNights, compareTableHtml } from "./nightly_compare.ts";
import { good as goodNight } from "./_nightly_fixtures.ts";

const good: Figures = { ...goodNight, seed: 7, acked: 540_000 };
const control: Figures = { ...good, verdict: "fail", expect: "fail", lost: 30_000 };

const a: NightSummary = {
  date: "2026-11-19",
  scenarios: { flagship: good, "unsafe-kafka": control, gone: good },
};
const b: NightSummary = {
  date: "2026-11-20",
  scenarios: {
    flagship: {
      ...good,
      verdict: "fail",
      as_expected: false,
      lost: 12,
      recovery_ms: 9800,
      acked_eps: 7000,
      detection_p99_ms: 3000,
    },
    "unsafe-kafka": { ...control, lost: 40_000 },
    added: good,
  },
};

Deno.test("compareNights: per scenario of either night, the figures' differences marked", () => {
  const rows = compareNights(a, b);
  assert.deepEqual(rows.map((r) => r.scenario), ["added", "flagship", "gone", "unsafe-kafka"]);
  const [added, flagship, gone, unsafe] = rows;
  assert.equal(flagship.verdict_change, "worse");
  const by = Object.fromEntries(flagship.figures.map((f) => [f.key, f]));
  assert.deepEqual(
    [by.lost.diff, by.lost.change],
    [12, "worse"],
  );
  assert.equal(by.recovery_ms.change, "same", "2% faster is noise");
  assert.equal(by.acked_eps.change, "worse");
  assert.equal(by.acked_eps.diff, -2000);
  assert.equal(by.detection_p99_ms.change, "better");
  assert.equal(by.acked.change, "same");
  assert.equal(added.a, null);
  assert.equal(added.verdict_change, "");
  assert.ok(added.figures.every((f) => f.diff === null && f.change === ""));
  assert.equal(gone.b, null);
  assert.equal(unsafe.verdict_change, "same");
  assert.equal(
    unsafe.figures.find((f) => f.key === "lost")!.change,
    "",
    "a control's losses are its point",
  );
  assert.equal(compareNights(b, a)[1].verdict_change, "better");
});

Deno.test("compareNights: missing nights, missing figures, odd names", () => {
  assert.deepEqual(compareNights(undefined, null), []);
  const rows = compareNights({ date: "2026-11-19", scenarios: {} }, b);
  assert.equal(rows.length, 3);
  const old = { ...good } as Partial<Figures>;
  delete old.acked;
  const odd = compareNights(
    { date: "x", scenarios: { constructor: old as Figures } },
    { date: "y", scenarios: JSON.parse('{"__proto__": {"verdict": "pass", "lost": null}}') },
  );
  assert.deepEqual(odd.map((r) => r.scenario), ["__proto__", "constructor"]);
  assert.equal(odd[0].a, null, "no inherited property is a scenario");
  assert.equal(odd[1].b, null);
  assert.equal(odd[1].figures[0].a, null, "a summary from before `acked` was recorded");
});

Deno.test("compareTableHtml: escaped, coloured, a row per scenario", () => {
  const html = compareTableHtml(
    compareNights(a, { ...b, scenarios: { ...b.scenarios, "<img src=x onerror=alert(1)>": good } }),
    "2026-11-19",
    "<b>",
  );
  assert.doesNotMatch(html, /<img|<b>/);
  assert.match(html, /&lt;img src=x onerror=alert\(1\)&gt;/);
  assert.match(html, /night a 2026-11-19 → night b &lt;b&gt;/);
  assert.equal(html.match(/<tr><td>/g)?.length, 5);
  assert.match(html, /<td class="worse">pass → fail<\/td>/);
  assert.match(html, /<td class="num worse">9000 → 7000<br><span class="diff">\(-2000, -22.2%\)/);
  assert.match(html, /<td class="">not run → pass<\/td>/);
  assert.match(compareTableHtml([], "a", "b"), /no scenario ran on either night/);
});

Deno.test("COMPARE_SCRIPT embeds the tested functions, types stripped, no closing tag", () => {
  assert.match(COMPARE_SCRIPT, /function compareNights\(a, b\)/);
  assert.match(COMPARE_SCRIPT, /function compareTableHtml\(rows, a, b\)/);
  assert.doesNotMatch(COMPARE_SCRIPT, /<\/script|<!--/i);
  // Parses as a script (a syntax error would throw here; nothing runs).
  new Function(COMPARE_SCRIPT);
});

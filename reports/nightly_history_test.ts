import assert from "node:assert/strict";
import type { Figures, NightSummary } from "./nightly.ts";
import {
  addDays,
  historyOf,
  nightWindow,
  normalizeNight,
  replayCommand,
  runHref,
  startedFailing,
} from "./nightly_history.ts";
import { good as goodNight } from "./_nightly_fixtures.ts";

const good: Figures = {
  ...goodNight,
  seed: 7,
  run: "runs/flagship-1",
  acked: 540_000,
  stack: "local",
};
const bad: Figures = { ...good, verdict: "fail", as_expected: false, lost: 12 };

/** Nights from 2026-11-01 on, one a day, each `pattern` letter a flagship verdict (p/f/-). */
function nights(pattern: string): NightSummary[] {
  return [...pattern].flatMap((c, i) => {
    const date = addDays("2026-11-01", i)!;
    if (c === " ") return [];
    const scenarios: Record<string, Figures> = {};
    if (c !== "-") scenarios.flagship = { ...(c === "p" ? good : bad), seed: 100 + i };
    return [{ date, scenarios }];
  });
}

Deno.test("normalizeNight: anything read back becomes a night or nothing", () => {
  assert.equal(normalizeNight(null), null);
  assert.equal(normalizeNight({ date: "yesterday" }), null);
  assert.equal(normalizeNight("2026-11-01"), null);
  // As JSON.parse reads it: `__proto__` is a key like any other.
  const n = normalizeNight(JSON.parse(`{"date": "2026-11-01", "scenarios": {
    "odd": {"verdict": "<b>", "lost": "12", "acked_eps": 1e999, "seed": null, "stack": "moon"},
    "__proto__": {"verdict": "pass", "as_expected": true},
    "empty": null}}`))!;
  assert.deepEqual(Object.keys(n.scenarios).sort(), ["__proto__", "empty", "odd"]);
  const odd = n.scenarios.odd;
  assert.equal(odd.verdict, "unknown");
  assert.equal(odd.as_expected, false);
  assert.equal(odd.lost, null);
  assert.ok(Number.isNaN(odd.acked_eps));
  assert.ok(Number.isNaN(odd.seed));
  assert.equal(odd.stack, undefined);
  assert.equal(n.scenarios.empty.run, "");
  assert.deepEqual(normalizeNight({ date: "2026-11-01", scenarios: [1, 2] })?.scenarios, {});
});

Deno.test("historyOf: one night a date, tonight wins, nothing after tonight, oldest first", () => {
  const tonight: NightSummary = { date: "2026-11-03", scenarios: { flagship: good } };
  const h = historyOf(tonight, [
    { date: "2026-11-03", scenarios: {} },
    { date: "2026-11-04", scenarios: {} },
    { date: "2026-11-01", scenarios: {} },
    "junk",
    { date: "2026-11-02", scenarios: null },
  ]);
  assert.deepEqual(h.map((n) => n.date), ["2026-11-01", "2026-11-02", "2026-11-03"]);
  assert.deepEqual(Object.keys(h[2].scenarios), ["flagship"]);
});

Deno.test("nightWindow: 30 calendar nights ending tonight, missing nights as gaps", async (t) => {
  await t.step("across a month's end, with gaps", () => {
    const h = nights("pp p-p");
    const w = nightWindow(h, "2026-11-06");
    assert.equal(w.length, 30);
    assert.equal(w[0].date, "2026-10-08");
    assert.equal(w[29].date, "2026-11-06");
    assert.equal(w.filter((s) => s.night).length, 5);
    assert.equal(w[26].night, undefined, "2026-11-03 did not run");
  });
  await t.step("no history at all: tonight alone", () => {
    const w = nightWindow([], "2026-11-06");
    assert.equal(w.length, 30);
    assert.ok(w.every((s) => !s.night));
  });
  await t.step("only the last 30 of a longer history", () => {
    const h = nights("p".repeat(45));
    const w = nightWindow(h, h.at(-1)!.date);
    assert.equal(w[0].date, h[15].date);
    assert.ok(w.every((s) => s.night));
  });
  await t.step("addDays refuses what is not a date", () => {
    assert.equal(addDays("2026-13-45", 1), null);
    assert.equal(addDays("tonight", 1), null);
    assert.equal(addDays("2024-02-28", 1), "2024-02-29");
  });
});

Deno.test("startedFailing: the first night of a streak after a pass", async (t) => {
  const at = (h: NightSummary[]) => startedFailing(h, h.at(-1)!.date);
  await t.step("failing tonight since the 4th night", () => {
    const s = at(nights("pppfff"));
    assert.equal(s.length, 1);
    assert.equal(s[0].date, "2026-11-04");
    assert.equal(s[0].passed, "2026-11-03");
    assert.equal(s[0].recovered, null);
    assert.equal(s[0].figures.seed, 103);
  });
  await t.step("a night without the scenario does not end the streak", () => {
    const s = at(nights("ppf-f"));
    assert.equal(s[0].date, "2026-11-03");
    assert.equal(s[0].recovered, null);
  });
  await t.step("the latest streak counts, not the first", () => {
    const s = at(nights("pfpppfp f"));
    assert.equal(s[0].date, "2026-11-09");
    assert.equal(s[0].passed, "2026-11-07");
  });
  await t.step("failed in the window and recovered since", () => {
    const s = at(nights("ppffpp"));
    assert.equal(s[0].date, "2026-11-03");
    assert.equal(s[0].recovered, "2026-11-05");
  });
  await t.step("a streak that ended before the window is left out", () => {
    assert.deepEqual(at(nights("pfp" + "p".repeat(40))), []);
  });
  await t.step("failing tonight since its first night: never passed", () => {
    const s = at(nights("ff"));
    assert.equal(s[0].date, "2026-11-01");
    assert.equal(s[0].passed, null);
  });
  await t.step("always passing, or failing only before its first pass and not tonight", () => {
    assert.deepEqual(at(nights("pppp")), []);
    assert.deepEqual(at(nights("fpp")), []);
  });
  await t.step("removed since it failed: shown while the failure is in the window", () => {
    const s = at(nights("pf--"));
    assert.equal(s.length, 1);
    assert.equal(s[0].recovered, null);
  });
});

Deno.test("replayCommand: the scenario, its seed, its stack; quoted when it must be", () => {
  assert.equal(replayCommand("flagship", good), "deno task scenario flagship --seed 7");
  assert.equal(
    replayCommand("net-loss", { ...good, stack: "docker" }),
    "deno task scenario net-loss --seed 7 --stack docker",
  );
  assert.match(replayCommand("x", { ...good, stack: "external" })!, /--stack external --endpoints/);
  assert.equal(
    replayCommand("it's; rm -rf /", good),
    `deno task scenario 'it'\\''s; rm -rf /' --seed 7`,
  );
  assert.equal(replayCommand("flagship", { ...good, seed: NaN }), null);
  assert.equal(replayCommand("flagship", { ...good, seed: -1 }), null);
});

Deno.test("runHref: relative to tonight's folder, encoded, never outside the nights", () => {
  assert.equal(runHref("2026-11-03", "runs/flagship-1"), "../2026-11-03/runs/flagship-1/");
  assert.equal(
    runHref("2026-11-03", "runs/a b#c", "report.html"),
    "../2026-11-03/runs/a%20b%23c/report.html",
  );
  assert.equal(runHref("2026-11-03", "../../etc"), null);
  assert.equal(runHref("2026-11-03", "/etc/passwd"), null);
  assert.equal(runHref("2026-11-03", ""), null);
});

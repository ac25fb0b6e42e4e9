import assert from "node:assert/strict";
import { catalog, loadScenario } from "./cli_scenario.ts";
import { ms, type Scenario, validateScenario } from "./scenario.ts";
import { faultAnchors, RECOVERY_MS, timesOf, varyProblems, varyScenario } from "./vary.ts";

const SEEDS = Array.from({ length: 200 }, (_, i) => i * 7919 + 1);
const GRADED = ["graded-smoke", "graded-broker-loss", "graded-storage", "graded-services"];
const loaded = new Map<string, Scenario>();
for (const name of await catalog()) loaded.set(name, await loadScenario(name));

const key = (s: Scenario) => JSON.stringify(timesOf(s));

Deno.test("varyScenario() gives the same times for the same seed, and sets the seed", () => {
  for (const name of GRADED) {
    const s = loaded.get(name)!;
    const before = structuredClone(s);
    const a = varyScenario(s, 1234);
    assert.deepEqual(varyScenario(s, 1234), a);
    assert.equal(a.seed, 1234);
    assert.deepEqual(s, before, "the scenario itself is left as it was");
    // Only the times (and the seed) change.
    const back = {
      ...a,
      seed: s.seed,
      workload: {
        ...a.workload,
        incidents: a.workload.incidents.map((inc, i) => ({
          ...inc,
          at: s.workload.incidents[i].at,
        })),
      },
      faults: a.faults.map((f, i) => ({ ...f, at: s.faults[i].at })),
    };
    assert.deepEqual(back, s);
  }
});

Deno.test("varyScenario() gives other times for other seeds", () => {
  for (const name of GRADED) {
    const s = loaded.get(name)!;
    const seen = new Set(SEEDS.map((seed) => key(varyScenario(s, seed))));
    assert.ok(seen.size >= 150, `${name}: ${seen.size} distinct timelines in 200 seeds`);
    assert.ok(!seen.has(key(s)) || seen.size > 1);
    // Every time moves for some seed.
    const t0 = timesOf(s);
    const moved = SEEDS.map((seed) => timesOf(varyScenario(s, seed)));
    t0.incidents.forEach((at, i) =>
      assert.ok(moved.some((t) => t.incidents[i] !== at), `${name}: incident ${i} never moves`)
    );
    t0.faults.forEach((at, i) =>
      assert.ok(moved.some((t) => t.faults[i] !== at), `${name}: fault ${i} never moves`)
    );
  }
});

Deno.test("varyScenario() keeps every catalog scenario valid and its bounds, for 200 seeds", () => {
  for (const [name, s] of loaded) {
    const own = timesOf(s);
    const end = ms(s.workload.duration);
    const anchors = faultAnchors(s);
    for (const seed of SEEDS) {
      const v = varyScenario(s, seed);
      const where = `${name}, seed ${seed}`;
      // Valid as the loader sees it: re-validated from its own output.
      validateScenario(structuredClone(v), where);
      const t = timesOf(v);
      v.workload.incidents.forEach((inc, i) => {
        assert.ok(Math.abs(t.incidents[i] - own.incidents[i]) <= 5000, where);
        assert.ok(t.incidents[i] >= Math.min(own.incidents[i], 5000), where);
        assert.ok(t.incidents[i] + ms(inc.duration) <= end, `${where}: incident ${i} ends late`);
      });
      v.faults.forEach((f, i) => {
        assert.ok(t.faults[i] <= end, `${where}: fault ${i} after the workload`);
        assert.ok(Math.abs(t.faults[i] - own.faults[i]) <= 5000, `${where}: fault ${i} moved far`);
        assert.ok(t.faults[i] >= Math.min(own.faults[i], 10_000), `${where}: fault ${i} early`);
        const n = anchors[i];
        if (n !== undefined) {
          // Inside its incident's span when it was.
          const [a0, d] = [own.incidents[n], ms(s.workload.incidents[n].duration)];
          if (own.faults[i] >= a0 && own.faults[i] < a0 + d) {
            const a = t.incidents[n];
            assert.ok(t.faults[i] >= a && t.faults[i] < a + d, `${where}: fault ${i} left ${n}`);
          }
        }
        if (f.heal_after !== undefined) {
          const [was, now] = [own.faults[i], t.faults[i]].map((x) =>
            Math.min(end, x + ms(f.heal_after!))
          );
          assert.ok(end - now >= Math.min(end - was, RECOVERY_MS), `${where}: no room to recover`);
        }
      });
      // Injects keep their order.
      for (let i = 0; i < own.faults.length; i++) {
        for (let j = 0; j < own.faults.length; j++) {
          if (own.faults[i] < own.faults[j]) {
            assert.ok(t.faults[i] <= t.faults[j], `${where}: faults ${i} and ${j} swapped`);
          }
        }
      }
      assert.deepEqual(varyProblems(s, t), [], where);
    }
  }
});

Deno.test("varyProblems() names times that break the scenario", async (t) => {
  const s = loaded.get("graded-broker-loss")!;
  const own = timesOf(s);
  const at = (incidents: number[], faults: number[]) => varyProblems(s, { incidents, faults });
  assert.deepEqual(at(own.incidents, own.faults), []);
  await t.step("an incident past the end of the workload", () => {
    assert.match(at([60_000, own.incidents[1]], own.faults).join("\n"), /incident 0 ends/);
  });
  await t.step("a leader-of-incident fault outside its incident", () => {
    assert.match(at(own.incidents, [40_000, 41_000]).join("\n"), /outside incident 0/);
  });
  await t.step("faults swapped", () => {
    const p = at(own.incidents, [own.faults[1], own.faults[0]]).join("\n");
    assert.match(p, /now comes after/);
  });
  await t.step("a heal that leaves no time to recover", () => {
    const p = at([30_000, own.incidents[1]], [45_000, 46_000]).join("\n");
    assert.match(p, /leaving less than 30000 ms/);
  });
  await t.step("a fault in the steady state before 10 s", () => {
    assert.match(at([2000, 8000], [4000, 6000]).join("\n"), /before 10000 ms/);
  });
});

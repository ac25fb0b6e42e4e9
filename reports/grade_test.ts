import assert from "node:assert/strict";
import { join } from "node:path";
import { UsageError } from "../lib/exit_codes.ts";
import { parseStrict } from "../chaos/scenario.ts";
import { runDeno, slow } from "../compose/testing.ts";
import { failRun, passRun, unknownRun } from "./_fixtures.ts";
import {
  type Grade,
  gradeJunit,
  gradePhases,
  gradeRun,
  SubmissionSchema,
  WEIGHTS,
} from "./grade.ts";

Deno.test("the weights add up to 100", () => {
  assert.equal(Object.values(WEIGHTS).reduce((a, b) => a + b, 0), 100);
});

Deno.test("gradeRun: a clean run scores 100 and passes", () => {
  const g = gradeRun("team", 80, passRun().results);
  assert.equal(g.score, 100);
  assert.ok(g.passed && !g.invalid);
});

Deno.test("gradeRun: lost events cost the loss check, fail the mark, and are named", () => {
  const g = gradeRun("team", 80, failRun().results);
  assert.equal(g.score, 100 - WEIGHTS.no_loss);
  assert.equal(g.passed, false);
  const loss = g.checks.find((c) => c.name === "no_loss")!;
  assert.match(
    loss.detail,
    /1000 of 1199000 acknowledged events missing \(run-w0: 5000, 5001, 5002; run-w3: 77\)/,
  );
  assert.match(gradeJunit(g), /<failure message="1000 of 1199000 acknowledged events missing/);
});

Deno.test("gradeRun: a run that proved nothing is invalid and scores 0", () => {
  const g = gradeRun("team", 80, unknownRun().results);
  assert.equal(g.score, 0);
  assert.ok(g.invalid && !g.passed);
});

Deno.test("gradePhases scores the phases by their exit codes", () => {
  const all = gradePhases("t", 80, { start_alive: true, run_chaos: 0, validate: 0 });
  assert.equal(all.score, 100);
  const bad = gradePhases("t", 80, { start_alive: true, run_chaos: 0, validate: 1 });
  assert.equal(bad.score, 60);
  assert.equal(bad.passed, false);
  const timedOut: Grade = gradePhases("t", 80, {
    start_alive: false,
    run_chaos: null,
    validate: null,
  });
  assert.ok(timedOut.invalid);
});

Deno.test("submission files are validated strictly, every problem at once", async (t) => {
  const bad = (input: unknown, ...want: RegExp[]) => {
    try {
      parseStrict(SubmissionSchema, input, "sub.yaml");
      assert.fail("accepted");
    } catch (error) {
      assert.ok(error instanceof UsageError);
      for (const re of want) assert.match((error as Error).message, re);
    }
  };
  await t.step("nothing to grade", () => bad({ name: "a" }, /needs pipeline/));
  await t.step("both modes", () =>
    bad(
      { name: "a", pipeline: { sink: "x", detector: "y" }, run_chaos: "z" },
      /either pipeline .* or the phases/,
    ));
  await t.step(
    "a phase missing",
    () => bad({ name: "a", start_pipeline: "x", run_chaos: "y" }, /all three/),
  );
  await t.step(
    "unknown key and bad mark",
    () =>
      bad(
        { name: "a", pipeline: { sink: "x", detector: "y" }, pass_mark: 120, colour: 1 },
        /pass_mark/,
        /colour/,
      ),
  );
  await t.step("a good one gets its defaults", () => {
    const s = parseStrict(
      SubmissionSchema,
      { name: "a", pipeline: { sink: "x", detector: "y" } },
      "s",
    );
    assert.equal(s.scenario, "graded-pipeline");
    assert.equal(s.pass_mark, 80);
  });
});

async function grade(file: string) {
  const out = await Deno.makeTempDir({ prefix: "grade-" });
  try {
    const res = await runDeno(["chaos/cli_grade.ts", "--submission", file, "--out", out]);
    const stdout = res.stdout;
    const explain = `${stdout}\n${res.stderr.slice(-2000)}`;
    const g = JSON.parse(await Deno.readTextFile(join(out, "grade.json"))) as Grade;
    await Deno.stat(join(out, "junit.xml"));
    return { code: res.code, grade: g, stdout, explain };
  } finally {
    await Deno.remove(out, { recursive: true }).catch(() => {});
  }
}

Deno.test(
  { name: "grade: the built-in pipeline scores at or above the pass mark", ...slow },
  async () => {
    const r = await grade("reports/testdata/builtin-pipeline.yaml");
    console.log(r.stdout);
    assert.equal(r.code, 0, r.explain);
    assert.ok(r.grade.score >= r.grade.pass_mark, r.explain);
  },
);

Deno.test(
  { name: "grade: a Python sink written from docs/contract.md alone scores 100", ...slow },
  async () => {
    const r = await grade("reports/testdata/python-sink/submission.yaml");
    console.log(r.stdout);
    assert.equal(r.code, 0, r.explain);
    assert.equal(r.grade.score, 100, r.explain);
  },
);

Deno.test(
  {
    name: "grade: a sink that drops every 1000th event scores below, naming the lost events",
    ...slow,
  },
  async () => {
    const r = await grade("reports/testdata/dropping-sink.yaml");
    console.log(r.stdout);
    assert.equal(r.code, 1, r.explain);
    assert.ok(r.grade.score < r.grade.pass_mark, r.explain);
    const loss = r.grade.checks.find((c) => c.name === "no_loss")!;
    assert.equal(loss.passed, false);
    assert.match(loss.detail, /\d+ of \d+ acknowledged events missing \(.*-w\d: \d+/);
  },
);

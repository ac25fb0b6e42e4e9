import assert from "node:assert/strict";
import { join } from "node:path";
import { UsageError } from "../lib/exit_codes.ts";
import { runDeno, slow } from "../compose/testing.ts";
import { processesOf, sandboxSupport } from "../compose/sandbox.ts";
import { CONTRACT_VERSION } from "../validate/contract.ts";
import type { Results } from "../validate/results.ts";
import { failRun, passRun, unknownRun } from "./_fixtures.ts";
import {
  type Grade,
  gradeJunit,
  gradeScenario,
  gradeSubmission,
  gradeText,
  scenarioError,
  WEIGHTS,
} from "./grade.ts";
import { parseSubmission, script } from "./submission.ts";
import { loadSuite, suiteNames } from "./suite.ts";

const rules = { suite: "default", seed: 42, seed_drawn: true, pass_mark: 80 };

/** A run whose verdict fails while most checks hold: the ids-only store scored 90 before. */
function idsOnlyRun(): Results {
  const r = structuredClone(passRun().results);
  r.verdict = "fail";
  r.as_expected = false;
  r.completeness!.verdict = "fail";
  r.completeness!.not_an_event = 470_074;
  r.reasons = ["470074 stored lines are not events"];
  return r;
}

Deno.test("the weights add up to 100", () => {
  assert.equal(Object.values(WEIGHTS).reduce((a, b) => a + b, 0), 100);
});

Deno.test("gradeScenario: a clean run scores 100 and passes", () => {
  const s = gradeScenario(passRun().results, "/runs/a");
  assert.equal(s.score, 100);
  assert.equal(s.verdict, "pass");
});

Deno.test("gradeScenario: lost events are named in the loss check", () => {
  const s = gradeScenario(failRun().results, null);
  assert.equal(s.verdict, "fail");
  const loss = s.checks.find((c) => c.name === "no_loss")!;
  assert.match(
    loss.detail,
    /1000 of 1199000 acknowledged events missing \(run-w0: 5000, 5001, 5002; run-w3: 77\)/,
  );
});

Deno.test("gradeScenario: an unknown run scores 0; a failed submission is a fail", () => {
  assert.equal(gradeScenario(unknownRun().results, null).score, 0);
  assert.equal(gradeScenario(unknownRun().results, null).verdict, "unknown");
  const crashed = structuredClone(unknownRun().results);
  crashed.submission_failure = "the submission's sink exited before joining its group";
  const s = gradeScenario(crashed, null);
  assert.equal(s.verdict, "fail");
  assert.ok(s.submission_failed);
  assert.equal(s.score, 0);
});

/** A run the order check failed (the harness's generator's records reordered in Kafka). */
function reorderedRun(alsoLost = false): Results {
  const r = structuredClone(passRun().results);
  const reason = "2 records reordered within their partition and producer session (e.g. run-w0 " +
    "seq 7 at partition 1 offset 40, after seq 9 at offset 39)";
  r.verdict = "fail";
  r.completeness!.verdict = "fail";
  r.completeness!.reordered = {
    verdict: "fail",
    reordered: 2,
    allowed: false,
    checked: 1000,
    without_session: 0,
    examples: [{
      partition: 1,
      offset: 40,
      producer_id: "run-w0",
      session: 3,
      seq: 7,
      after: { offset: 39, seq: 9 },
    }],
    reasons: [reason],
  };
  r.reasons = [reason];
  if (alsoLost) {
    r.completeness!.lost = 5;
    r.reasons.unshift(
      "5 events lost: 0 acknowledged and never in the topic, 5 in the topic and not stored",
    );
  }
  r.completeness!.reasons = [...r.reasons];
  return r;
}

Deno.test("gradeScenario: a reorder in Kafka is not the submission's: unknown, with the reason", () => {
  const s = gradeScenario(reorderedRun(), null);
  assert.equal(s.verdict, "unknown");
  assert.equal(s.score, 0);
  assert.equal(s.submission_failed, false);
  assert.match(s.reasons[0], /records reordered .*not the submission's: .*harness's generator/);
  // The grade: invalid (proved nothing), never the team's fail.
  const g = gradeSubmission("team", rules, [s]);
  assert.equal(g.verdict, "invalid");
  assert.match(g.reasons.join("\n"), /proved nothing: 2 records reordered/);
  // Beside a finding of the submission's own, the run fails, and the reorder is named as not its.
  const both = gradeScenario(reorderedRun(true), null);
  assert.equal(both.verdict, "fail");
  assert.match(both.reasons[0], /^5 events lost/);
  assert.match(both.reasons[1], /reordered .*\(not the submission's/);
  // A crashed submission stays its own fail.
  const crashed = reorderedRun();
  crashed.submission_failure = "the submission's sink exited";
  assert.equal(gradeScenario(crashed, null).verdict, "fail");
});

Deno.test("gradeSubmission: the grade follows the verdict", async (t) => {
  await t.step("a failing verdict fails whatever the points and the pass mark", () => {
    const g = gradeSubmission("team", { ...rules, pass_mark: 0 }, [
      gradeScenario(passRun().results, null),
      gradeScenario(idsOnlyRun(), null),
    ]);
    assert.equal(g.verdict, "fail");
    assert.equal(g.passed, false);
    assert.ok(g.score >= 90, `the points are kept as feedback: ${g.score}`);
    assert.match(g.reasons[0], /not events/);
    assert.equal(g.contract_version, CONTRACT_VERSION);
  });
  await t.step("every scenario passing passes", () => {
    const g = gradeSubmission("team", rules, [gradeScenario(passRun().results, null)]);
    assert.equal(g.verdict, "pass");
    assert.equal(g.score, 100);
    assert.ok(g.checks.every((c) => c.passed));
  });
  await t.step("a scenario the harness could not prove makes the grade invalid", () => {
    const g = gradeSubmission("team", rules, [
      gradeScenario(passRun().results, null),
      scenarioError("graded-storage", 7, "no Kafka broker answers"),
    ]);
    assert.equal(g.verdict, "invalid");
    assert.ok(g.invalid);
    assert.match(g.reasons.join("\n"), /graded-storage: proved nothing/);
  });
  await t.step("a fail beats an unknown", () => {
    const g = gradeSubmission("team", rules, [
      gradeScenario(idsOnlyRun(), null),
      gradeScenario(unknownRun().results, null),
    ]);
    assert.equal(g.verdict, "fail");
  });
  await t.step("nothing judged (self-reported phases only) fails", () => {
    const g = gradeSubmission("team", rules, [], [{ phase: "validate", exit: 0 }]);
    assert.equal(g.verdict, "fail");
    assert.equal(g.score, 0);
    assert.match(g.reasons[0], /self-reported exit codes cannot pass/);
    assert.match(gradeText(g), /self-reported validate: exit 0 \(not part of the grade\)/);
  });
  await t.step("what the sandbox lacked on the grader's host is said with the grade", () => {
    const g = gradeSubmission("team", rules, [gradeScenario(passRun().results, null)]);
    assert.doesNotMatch(gradeText(g), /SANDBOX GAP/);
    g.sandbox_gaps = ["boxes not scoped from each other: no Landlock ABI 6"];
    assert.match(gradeText(g), /SANDBOX GAP: boxes not scoped from each other: no Landlock ABI 6/);
  });
  await t.step("under the grader's pass mark fails", () => {
    const partial = gradeScenario(passRun().results, null);
    partial.score = 70;
    const g = gradeSubmission("team", rules, [partial]);
    assert.equal(g.verdict, "fail");
    assert.match(g.reasons[0], /under the pass mark 80/);
  });
});

Deno.test("gradeScenario: a pass whose run folder has no seal is no pass; a fail stays a fail", () => {
  const unsealed = { ok: false as const, why: "missing: seal.json" };
  const s = gradeScenario(passRun().results, "/runs/a", unsealed);
  assert.equal(s.verdict, "unknown");
  assert.equal(s.score, 0);
  assert.equal(s.sealed, false);
  assert.equal(s.submission_failed, false, "the harness's error, not the submission's");
  assert.match(
    s.reasons.at(-1)!,
    /no seal that verifies \(missing: seal\.json\): its pass is no evidence/,
  );
  const g = gradeSubmission("team", rules, [s]);
  assert.equal(g.verdict, "invalid", "exit 3, never 0");
  assert.ok(g.invalid && !g.passed);
  assert.match(g.reasons.join("\n"), /proved nothing: the run folder has no seal/);
  // The same run, sealed, passes.
  const sealed = gradeScenario(passRun().results, "/runs/a", { ok: true });
  assert.equal(sealed.verdict, "pass");
  assert.equal(sealed.sealed, true);
  // A fail needs no seal to stand.
  const failed = gradeScenario(idsOnlyRun(), "/runs/b", unsealed);
  assert.equal(failed.verdict, "fail");
  assert.match(failed.reasons.at(-1)!, /its fail stands/);
  assert.equal(gradeSubmission("team", rules, [failed, s]).verdict, "fail");
});

Deno.test("gradeJunit: the verdict is the first test case", () => {
  const g = gradeSubmission("team", rules, [gradeScenario(idsOnlyRun(), null)]);
  const xml = gradeJunit(g);
  assert.match(
    xml,
    /<testcase classname="grade.team" name="verdict">\n\s*<failure message="[^"]*not events/,
  );
  assert.match(xml, /<property name="verdict" value="fail"\/>/);
  assert.match(xml, /<property name="seed" value="42"\/>/);
});

Deno.test("submission files hold only what the team owns", async (t) => {
  const refused = (input: unknown, ...want: RegExp[]) => {
    try {
      parseSubmission(input, "/subs/team/sub.yaml");
      assert.fail("accepted");
    } catch (error) {
      assert.ok(error instanceof UsageError, String(error));
      for (const re of want) assert.match((error as Error).message, re);
    }
  };
  const pipeline = { sink: "x", detector: "y" };
  await t.step("the grader's keys are refused by name", () =>
    refused(
      { name: "a", pipeline, pass_mark: 0, scenario: "steady-state", seed: 1 },
      /pass_mark: is the grader's to set/,
      /scenario: is the grader's to set/,
      /seed: is the grader's to set/,
    ));
  await t.step("nothing to grade", () => refused({ name: "a" }, /needs pipeline/));
  await t.step(
    "both modes",
    () => refused({ name: "a", pipeline, run_chaos: "z" }, /either pipeline .* or the phases/),
  );
  await t.step(
    "phases without start_pipeline",
    () => refused({ run_chaos: "y", validate: "z" }, /start_pipeline/),
  );
  await t.step(
    "unknown keys, bad types",
    () => refused({ name: "a", pipeline, colour: 1, setup: 3 }, /colour/, /setup/),
  );
  await t.step("a phase submission as teams write it: lists, no name", () => {
    const s = parseSubmission({
      setup: ["pip install -r requirements.txt", "make"],
      start_pipeline: ["python sink.py &", "python detector.py &"],
      run_chaos: "./chaos.sh",
      validate: ["./check.sh"],
    }, "/subs/team-b/submission.yml");
    assert.equal(s.name, "team-b");
    assert.equal(s.cwd, "/subs/team-b");
    assert.equal(s.setup, "set -e\npip install -r requirements.txt\nmake");
    assert.equal(s.phases?.start_pipeline, "set -e\npython sink.py &\npython detector.py &\nwait");
    assert.equal(s.phases?.run_chaos, "./chaos.sh");
    assert.equal(s.phases?.follows_contract, false);
  });
  await t.step("a driven pipeline", () => {
    const s = parseSubmission({ name: "a", pipeline }, "/x/sub.yaml");
    assert.deepEqual(s.pipeline, pipeline);
    assert.equal(s.timeoutMs, 15 * 60_000);
  });
  assert.equal(script("make"), "make");
});

Deno.test("the catalog's suites load, and every scenario they name exists", async () => {
  const names = await suiteNames();
  assert.ok(names.includes("default") && names.includes("smoke"), names.join());
  const { loadScenario } = await import("../chaos/cli_scenario.ts");
  for (const name of names) {
    const suite = await loadSuite(name);
    for (const s of suite.scenarios) await loadScenario(s);
  }
  await assert.rejects(() => loadSuite("nope"), UsageError);
});

/** Grades `file` with the real CLI (the smoke suite unless given), a fixed seed. */
async function grade(
  file: string,
  args: string[] = ["--suite", "smoke"],
  env: Record<string, string> = {},
) {
  const out = await Deno.makeTempDir({ prefix: "grade-" });
  try {
    const res = await runDeno([
      "chaos/cli_grade.ts",
      "--submission",
      file,
      "--out",
      out,
      ...args,
    ], env);
    const explain = `${res.stdout}\n${res.stderr.slice(-3000)}`;
    const text = await Deno.readTextFile(join(out, "grade.json")).catch(() => undefined);
    assert.ok(text, `no grade.json: ${explain}`);
    const g = JSON.parse(text) as Grade;
    await Deno.stat(join(out, "junit.xml"));
    return { code: res.code, grade: g, stdout: res.stdout, explain };
  } finally {
    await Deno.remove(out, { recursive: true }).catch(() => {});
  }
}

Deno.test("grade: a submission that sets the grader's rules is refused (exit 2)", async () => {
  const res = await runDeno([
    "chaos/cli_grade.ts",
    "--submission",
    "reports/testdata/cheats/grader-keys.yaml",
  ]);
  assert.equal(res.code, 2, res.stderr);
  for (const key of ["scenario", "pass_mark", "seed"]) {
    assert.match(res.stderr, new RegExp(`${key}: is the grader's to set`));
  }
});

Deno.test("grade: the docker stack, which cannot keep a pipeline to its rights, is refused (exit 2)", async () => {
  const res = await runDeno([
    "chaos/cli_grade.ts",
    "--submission",
    "reports/testdata/cheats/self-validated.yaml",
    "--stack",
    "docker",
  ]);
  assert.equal(res.code, 2, res.stderr);
  assert.match(res.stderr, /grading on the docker stack is refused: its Kafka has no authorizer/);
  assert.match(res.stderr, /hint: grade on the local stack/);
});

Deno.test("grade: phases that only report their own success fail", async () => {
  const r = await grade("reports/testdata/cheats/self-validated.yaml");
  assert.equal(r.code, 1, r.explain);
  assert.equal(r.grade.verdict, "fail");
  assert.equal(r.grade.score, 0);
  assert.deepEqual(
    r.grade.self_reported.filter((p) => p.phase !== "start_pipeline").map((p) => p.exit),
    [0, 0],
  );
  assert.match(r.grade.reasons[0], /self-reported exit codes cannot pass/);
});

Deno.test({
  name: "grade: a setup that leaves what cannot be copied into the components' boxes fails",
  ignore: sandboxSupport() !== null,
}, async () => {
  const r = await grade("reports/testdata/cheats/deep-setup.yaml");
  assert.equal(r.code, 1, r.explain);
  assert.equal(r.grade.verdict, "fail");
  assert.equal(r.grade.score, 0);
  assert.match(r.grade.reasons[0], /cannot be copied into the components' sandboxes/);
});

/**
 * The honest submissions: each must pass the smoke suite (the default suite in the closing note).
 * The built-in pipeline's own pass (100/100, a driven submission) is the hostile submission's
 * below: it runs the built-in sink and detector after its attacks, and is held to the same.
 */
for (
  const [label, file] of [
    [
      "a Python sink written from docs/contract.md alone",
      "reports/testdata/python-sink/submission.yaml",
    ],
    [
      "a phase-style submission.yml (lists, follows_contract)",
      "reports/testdata/phase-pipeline/submission.yml",
    ],
  ]
) {
  Deno.test({ name: `grade: ${label} passes`, ...slow }, async () => {
    const r = await grade(file, ["--suite", "smoke", "--seed", "11"]);
    console.log(r.stdout);
    assert.equal(r.code, 0, r.explain);
    assert.equal(r.grade.verdict, "pass", r.explain);
    assert.equal(r.grade.score, 100, r.explain);
    if (file.includes("phase-pipeline")) {
      const validate = r.grade.self_reported.find((p) => p.phase.startsWith("validate"));
      assert.equal(validate?.exit, 0, r.explain);
    }
  });
}

/**
 * Cheating submissions: each must FAIL the grade with its findings named. Graded by the smoke
 * suite's scenario with a 12 s settle (reports/testdata/cheats/suite.yaml): a cheat whose detector
 * misses its incidents waits out the whole settle, and its findings are made well before 12 s.
 */
const CHEAT_SUITE = "reports/testdata/cheats/suite.yaml";
const CHEATS: [string, RegExp[]][] = [
  ["ids-only-spam", [/are not valid events/, /alerts match no incident/]],
  ["twice-block", [/extra stored copies/, /incidents raised no alert/]],
  ["no-dlq-ledger", [/malformed|dlq/i, /raised no alert/]],
  ["commit-first-wide", [/committed before stored/, /not alerts|malformed/]],
  ["drop-backdate", [/lost|missing/, /before the incident/]],
  // Not unknown (exit 3) for a Redis it blocked: the harness restarts Redis and blames it.
  ["redis-script", [/the pipeline blocked Redis with a script for \d/]],
];
/**
 * Two cheats graded at once, each grading on a stack of its own (the second on
 * `CHAOS_GRADE_PAIR_BASE_PORT`, default the test stack's base + 600): a cheat's run is mostly
 * waiting (its settle, its stack's start), and its findings do not depend on the machine's speed.
 */
const PAIR_BASE = Number(
  Deno.env.get("CHAOS_GRADE_PAIR_BASE_PORT") ??
    Number(Deno.env.get("CHAOS_TEST_BASE_PORT") ?? 30000) + 600,
);
for (let i = 0; i < CHEATS.length; i += 2) {
  const pair = CHEATS.slice(i, i + 2);
  const names = pair.map(([name]) => name).join(" and ");
  const label = pair.length > 1 ? `submissions ${names} fail` : `submission ${names} fails`;
  Deno.test({ name: `grade: the cheating ${label}`, ...slow }, async () => {
    // Both waited for, so that neither grading outlives the test when the other throws.
    const settled = await Promise.allSettled(pair.map(([name], j) =>
      grade(
        `reports/testdata/cheats/${name}.yaml`,
        ["--suite", CHEAT_SUITE],
        j === 0 ? {} : { CHAOS_RUN_BASE_PORT: String(PAIR_BASE) },
      )
    ));
    const graded = settled.map((s) => {
      if (s.status === "rejected") throw s.reason;
      return s.value;
    });
    for (const [j, [name, findings]] of pair.entries()) {
      const r = graded[j];
      console.log(r.stdout);
      assert.equal(r.code, 1, `${name}: ${r.explain}`);
      assert.equal(r.grade.verdict, "fail", `${name}: ${r.explain}`);
      const reasons = r.grade.reasons.join("\n");
      for (const re of findings) assert.match(reasons, re, `${name}: ${r.explain}`);
    }
  });
}

Deno.test(
  { name: "grade: a submission whose detector dies at start fails with its log", ...slow },
  async () => {
    const r = await grade("reports/testdata/cheats/dead-detector.yaml");
    assert.equal(r.code, 1, r.explain);
    assert.equal(r.grade.verdict, "fail", r.explain);
    assert.ok(r.grade.scenarios[0].submission_failed, r.explain);
    assert.match(
      r.grade.reasons[0],
      /the submission failed: .*(detector exited|did not start)/,
      r.explain,
    );
    assert.match(r.grade.reasons.join("\n"), /cannot parse WINDOW_SIZE/, r.explain);
  },
);

Deno.test(
  {
    name: "grade: a hostile submission's attacks from setup, sink and detector all fail " +
      "(sandbox), its grade is the built-in pipeline's (pass, 100/100), nothing of it runs after",
    ...slow,
  },
  async () => {
    const out = await Deno.makeTempDir({ prefix: "grade-sandbox-" });
    try {
      const res = await runDeno([
        "chaos/cli_grade.ts",
        "--submission",
        "reports/testdata/cheats/sandbox-escape/submission.yaml",
        "--out",
        out,
        "--suite",
        "smoke",
        "--seed",
        "11",
      ]);
      const explain = `${res.stdout}\n${res.stderr.slice(-3000)}`;
      const g = JSON.parse(await Deno.readTextFile(join(out, "grade.json"))) as Grade;
      assert.equal(g.sandboxed, true, explain);
      assert.equal(res.code, 0, explain);
      assert.equal(g.verdict, "pass", explain);
      assert.equal(g.score, 100, explain);
      // Every attack ran and was blocked, in each phase.
      const logs: string[] = [await Deno.readTextFile(join(out, "setup.log"))];
      for await (const e of Deno.readDir(join(out, "runs"))) {
        for await (const run of Deno.readDir(join(out, "runs", e.name))) {
          if (!run.isDirectory) continue;
          for (const c of ["sink", "detector"]) {
            const log = join(out, "runs", e.name, run.name, "logs", `${c}.log`);
            logs.push(await Deno.readTextFile(log).catch(() => ""));
          }
        }
      }
      const attacks = logs.join("\n").split("\n").filter((l) => l.startsWith("ATTACK "));
      const uid = Number(/^ATTACK setup runs as uid (\d+)$/m.exec(logs[0])?.[1]);
      assert.ok(uid >= 61000, `setup ran as uid ${uid}: ${explain}`);
      for (const log of logs) assert.doesNotMatch(log, /runs as uid 0$/m, "nothing ran as root");
      for (const phase of ["setup", "sink", "detector"]) {
        const mine = attacks.filter((l) => l.startsWith(`ATTACK ${phase} `));
        assert.ok(mine.filter((l) => l.endsWith(" blocked")).length >= 9, `${phase}: ${mine}`);
        assert.ok(mine.includes(`ATTACK ${phase} daemon started`), `${phase}: ${mine}`);
      }
      assert.deepEqual(attacks.filter((l) => l.endsWith(" ok")), [], explain);
      const checker = await Deno.readTextFile("validate/object_check.ts");
      assert.doesNotMatch(checker, /pwned/);
      // Nothing of the uid runs, no daemon, no chain, no copy.
      assert.deepEqual(processesOf(uid), []);
      const rules = new Deno.Command("iptables", { args: ["-w", "-S"], stdout: "piped" })
        .outputSync();
      assert.doesNotMatch(new TextDecoder().decode(rules.stdout), new RegExp(`chaos-sb-${uid}\\b`));
      const ps = new Deno.Command("pgrep", { args: ["-f", "chaos-sandbox-escape-daemon"] })
        .outputSync();
      assert.equal(new TextDecoder().decode(ps.stdout).trim(), "");
      await assert.rejects(Deno.stat(`/var/lib/chaos-sandbox/${uid}`), Deno.errors.NotFound);
    } finally {
      await Deno.remove(out, { recursive: true }).catch(() => {});
    }
  },
);

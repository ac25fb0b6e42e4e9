import assert from "node:assert/strict";
import { join } from "node:path";
import { runDeno } from "../compose/testing.ts";
import { UsageError } from "../lib/exit_codes.ts";
import { loadScenario } from "./cli_scenario.ts";
import { applySets, isScenarioPath, readScenarioInput } from "./scenario_file.ts";

const YAML = `# a scenario kept outside the harness
name: from-yaml
description: kill broker 1 for 20 s
seed: 3
workload:
  eps: 2000
  duration: 60s
  incidents: [{ at: 5s, kind: exfil, duration: 20s }]
faults:
  - { at: 10s, kind: kill, target: "broker:1", heal_after: 20s }
checks: { alerts: true }
`;

async function withFiles(
  files: Record<string, string>,
  body: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "scenario-file-" });
  try {
    for (const [name, text] of Object.entries(files)) {
      await Deno.writeTextFile(join(dir, name), text);
    }
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const usage = (pattern: RegExp) => (e: unknown) =>
  e instanceof UsageError && pattern.test(e.message);

Deno.test("scenario files: YAML, JSON and TypeScript anywhere, one schema", async () => {
  const asObject = {
    name: "from-json",
    description: "the same in JSON",
    seed: 3,
    workload: { eps: 2000, duration: "60s" },
  };
  await withFiles({
    "s.yaml": YAML,
    "s.json": JSON.stringify(asObject),
    "s.ts": `export default ${JSON.stringify({ ...asObject, name: "from-ts" })};`,
  }, async (dir) => {
    const y = await loadScenario(join(dir, "s.yaml"));
    assert.equal(y.name, "from-yaml");
    assert.equal(y.workload.eps, 2000);
    assert.equal(y.faults[0].target, "broker:1");
    assert.equal(y.stack.brokers, 3, "defaults applied as for the catalog");
    assert.equal((await loadScenario(join(dir, "s.json"))).name, "from-json");
    assert.equal((await loadScenario(join(dir, "s.ts"))).name, "from-ts");
  });
});

Deno.test("scenario files: every way a file is wrong is a usage error naming it", async () => {
  await withFiles({
    "bad.yaml": "name: [unclosed\n",
    "bad.json": '{"name": ',
    "keys.yaml": YAML.replace("seed: 3", "seed: 3\nsede: 4").replace("eps: 2000", "eps: -1"),
    "dup.yaml": YAML + "seed: 4\n",
    "none.ts": "export const x = 1;",
    "s.txt": "",
  }, async (dir) => {
    await assert.rejects(loadScenario(join(dir, "bad.yaml")), usage(/bad\.yaml is not valid YAML/));
    await assert.rejects(loadScenario(join(dir, "bad.json")), usage(/bad\.json is not valid JSON/));
    await assert.rejects(
      loadScenario(join(dir, "keys.yaml")),
      (e) =>
        usage(/keys\.yaml is invalid:/)(e) &&
        /\(root\).*"sede"/.test((e as Error).message) &&
        /workload\.eps: /.test((e as Error).message),
    );
    await assert.rejects(loadScenario(join(dir, "dup.yaml")), usage(/not valid YAML/));
    await assert.rejects(loadScenario(join(dir, "none.ts")), usage(/no default export/));
    await assert.rejects(readScenarioInput(join(dir, "s.txt")), usage(/must end with/));
    await assert.rejects(loadScenario(join(dir, "missing.yaml")), usage(/no scenario file/));
  });
  await assert.rejects(loadScenario("no-such-scenario"), usage(/the catalog has/));
});

Deno.test("--set overrides any key before validation, values read as JSON when they are", async () => {
  const raw = { a: { b: 1, list: [{ at: "1s" }] } };
  assert.deepEqual(
    applySets(raw, ["a.b=20000", "a.list.0.at=45s", "a.c.d=true", 'a.e="7"', "a.f=[1,2]"]),
    { a: { b: 20000, list: [{ at: "45s" }], c: { d: true }, e: "7", f: [1, 2] } },
  );
  assert.deepEqual(raw.a.b, 1, "the input is not changed");
  assert.throws(() => applySets(raw, ["a.b.c=1"]), usage(/a\.b is 1, not an object or a list/));
  assert.throws(() => applySets(raw, ["a.list.x=1"]), usage(/a\.list is a list; index it/));
  assert.throws(() => applySets(raw, ["=1"]), usage(/expected key\.path=value/));
  assert.throws(() => applySets(raw, ["a..b=1"]), usage(/expected key\.path=value/));
  assert.throws(() => applySets(raw, ["a.b"]), usage(/expected key\.path=value/));

  // On a scenario of the catalog: validated, with the overrides named in the error.
  const s = await loadScenario("steady-state", ["workload.eps=1234", "seed=9"]);
  assert.equal(s.workload.eps, 1234);
  assert.equal(s.seed, 9);
  await assert.rejects(
    loadScenario("steady-state", ["workload.epz=1"]),
    usage(/steady-state\.ts \(with --set workload\.epz=1\) is invalid:[\s\S]*epz/),
  );
  await assert.rejects(
    loadScenario("steady-state", ["workload.eps=fast"]),
    usage(/workload\.eps/),
  );
});

Deno.test("isScenarioPath: paths and file names, not catalog names", () => {
  assert.equal(isScenarioPath("exfil-under-broker-loss"), false);
  assert.equal(isScenarioPath("my.yaml"), true);
  assert.equal(isScenarioPath("dir/x"), true);
  assert.equal(isScenarioPath("./x.json"), true);
});

Deno.test("deno task scenario <file.yaml> --set … --dry-run: the plan of the overridden file; bad input exits 2", async () => {
  await withFiles({ "s.yaml": YAML }, async (dir) => {
    const file = join(dir, "s.yaml");
    const ok = await runDeno([
      "chaos/cli_scenario.ts",
      file,
      "--set",
      "workload.eps=3000",
      "--set",
      "faults.0.heal_after=25s",
      "--dry-run",
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    const out = JSON.parse(ok.stdout);
    assert.equal(out.scenario.workload.eps, 3000);
    assert.deepEqual(out.plan.map((p: { at: string }) => p.at), ["10s", "35s"]);
    const bad = await runDeno(["chaos/cli_scenario.ts", file, "--set", "faults.0.kind=melt"]);
    assert.equal(bad.code, 2, bad.stdout + bad.stderr);
    assert.match(bad.stderr, /faults\.0\.kind/);
  });
});

Deno.test("one loader: a bad scenario is the same usage error by path and by catalog name", async () => {
  const body = (s: Record<string, unknown>) =>
    `export default ${JSON.stringify({ description: "d", seed: 1, ...s })};\n`;
  await withFiles({
    "broken.ts": 'export default { name: "broken", description: \n',
    "typed.ts": body({ name: "typed", seed: "one" }),
    "keyed.ts": body({ name: "keyed", sede: 4 }),
    "throws.ts": 'throw new Error("at import");\n',
    "unclonable.ts": 'export default { name: "unclonable", f: () => 1 };\n',
  }, async (dir) => {
    const cases: [string, RegExp][] = [
      ["broken", /broken\.ts could not be loaded: .*(Unexpected|Expected|expected)/],
      ["typed", /typed\.ts is invalid:[^]*\n {2}seed: /],
      ["keyed", /keyed\.ts is invalid:[^]*\n {2}\(root\): .*sede/],
      ["throws", /throws\.ts could not be loaded: .*at import/],
      ["unclonable", /unclonable\.ts: the default export is not plain data/],
    ];
    for (const [name, says] of cases) {
      await assert.rejects(loadScenario(join(dir, `${name}.ts`)), usage(says), `${name} by path`);
      await assert.rejects(
        loadScenario(name, [], { catalogDir: dir }),
        usage(says),
        `${name} by catalog name`,
      );
    }
  });
});

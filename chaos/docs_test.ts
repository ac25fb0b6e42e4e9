import assert from "node:assert/strict";
import { fill, generatedDocs, SCENARIOS_DOC, scenariosDoc } from "./cli_docs.ts";
import { catalog } from "./cli_scenario.ts";
import { FAULTS } from "./faults/mod.ts";

Deno.test("docs: the catalog and fault tables in docs/scenarios.md are current (deno task docs)", async () => {
  const current = await Deno.readTextFile(SCENARIOS_DOC);
  assert.equal(
    current,
    await scenariosDoc(current),
    "docs/scenarios.md is stale: run deno task docs",
  );
  for (const name of await catalog()) assert.match(current, new RegExp(`\\| \`${name}\` +\\|`));
  for (const kind of Object.keys(FAULTS)) assert.match(current, new RegExp(`\\| \`${kind}\``));
});

Deno.test("docs: fill replaces only what is between its markers", () => {
  const text = "a\n<!-- t:start -->\nold\n<!-- t:end -->\nb";
  assert.equal(fill(text, "t", "new"), "a\n<!-- t:start -->\nnew\n<!-- t:end -->\nb");
  assert.throws(() => fill("no markers", "t", "x"), /no <!-- t:start -->/);
});

Deno.test("docs: the JSON Schemas of scenario files and submissions are current", async () => {
  for (const [path, wanted] of await generatedDocs()) {
    if (!path.endsWith(".schema.json")) continue;
    assert.equal(await Deno.readTextFile(path), wanted, `${path} is stale: run deno task docs`);
    const schema = JSON.parse(wanted);
    assert.equal(schema.type, "object");
    assert.equal(
      schema.additionalProperties,
      false,
      "unknown keys are refused, as the harness does",
    );
  }
});

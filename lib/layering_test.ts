/**
 * The import graph stays layered: no file imports itself back through others,
 * and folders import only the folders below them:
 *
 *   scenarios → chaos → reports → validate → compose → pipeline → lib
 *
 * `pipeline/` is the system under test, a program a user replaces with their
 * own: it imports only itself and `lib/` (small basics that import nothing).
 * Tests may reach anywhere (they start stacks to test against).
 */

import assert from "node:assert/strict";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";

const LAYERS = ["scenarios", "chaos", "reports", "validate", "compose", "pipeline", "lib"];
const root = fileURLToPath(new URL("..", import.meta.url));
const IMPORT =
  /(?:import|export)\s[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]/g;

async function sources(): Promise<string[]> {
  const out: string[] = [];
  for (const layer of LAYERS) {
    const walk = async (dir: string) => {
      for await (const e of Deno.readDir(join(root, dir))) {
        const path = join(dir, e.name);
        if (e.isDirectory && !["testdata", "runs", "node_modules"].includes(e.name)) {
          await walk(path);
        }
        if (e.isFile && e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")) out.push(path);
      }
    };
    await walk(layer);
  }
  return out;
}

/** The graph of relative imports between the project's non-test sources. */
export async function importGraph(): Promise<Map<string, string[]>> {
  const graph = new Map<string, string[]>();
  for (const file of await sources()) {
    const text = await Deno.readTextFile(join(root, file));
    const targets = [...text.matchAll(IMPORT)].map((m) =>
      normalize(relative(root, join(root, dirname(file), m[1] ?? m[2])))
    );
    // A module's own usage example imports itself: not an edge.
    graph.set(file, targets.filter((t) => t.endsWith(".ts") && t !== file));
  }
  return graph;
}

/** Cycles among the graph's nodes (each as a path from a node back to it). */
function cycles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (node: string) => {
    state.set(node, "open");
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === "open") found.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, "done");
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node);
  return found;
}

const folder = (file: string) => file.split("/")[0];

Deno.test("imports: no file imports itself back", async () => {
  const found = cycles(await importGraph());
  assert.deepEqual(found.map((c) => c.join(" → ")), []);
});

Deno.test("imports: every folder imports only the folders below it", async () => {
  const wrong: string[] = [];
  for (const [file, targets] of await importGraph()) {
    for (const target of targets) {
      const [from, to] = [LAYERS.indexOf(folder(file)), LAYERS.indexOf(folder(target))];
      if (to < 0) wrong.push(`${file} → ${target} (outside the layers)`);
      else if (to < from) {
        wrong.push(`${file} → ${target} (${folder(target)} is above ${folder(file)})`);
      }
    }
  }
  assert.deepEqual(wrong, [], `the layers are ${LAYERS.join(" → ")}`);
});

Deno.test("imports: the layering test sees a cycle and an upward import", () => {
  const graph = new Map([["chaos/a.ts", ["chaos/b.ts"]], ["chaos/b.ts", ["chaos/a.ts"]]]);
  assert.deepEqual(cycles(graph), [["chaos/a.ts", "chaos/b.ts", "chaos/a.ts"]]);
  assert.ok(LAYERS.indexOf(folder("pipeline/x.ts")) > LAYERS.indexOf(folder("compose/y.ts")));
});

// A run as `scenario --json` makes one (chaos/json_stdout_test.ts): noise on stdout from the
// main thread and from a worker, the verdict object, more noise after it; exit 1.
import { jsonInChild, jsonOutFile, writeVerdictJson } from "../json_stdout.ts";

if (!jsonOutFile()) Deno.exit(await jsonInChild(import.meta.filename!));
console.log("main thread noise");
const worker = new Worker(
  "data:text/javascript,console.log('worker noise'); postMessage('done');",
  { type: "module" },
);
await new Promise((resolve) => worker.onmessage = resolve);
writeVerdictJson(JSON.stringify({ verdict: "fail", args: Deno.args }, null, 2));
const late = new Worker("data:text/javascript,console.log('late worker noise');", {
  type: "module",
});
await new Promise((resolve) => setTimeout(resolve, 200));
late.terminate();
worker.terminate();
Deno.exit(1);

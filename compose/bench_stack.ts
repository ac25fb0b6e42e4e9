/**
 * `deno task bench:stack`: time from `up` to a healthy stack (3 brokers,
 * MinIO, Redis, Toxiproxy; binaries already provisioned) and time of `down`.
 * Runs `--runs N` times (default 3) on its own ports and prints the figures,
 * last line exactly: `stack_up_s=<median> stack_down_s=<median>`.
 * @module
 */

import { ExitCode, runMain, UsageError } from "../chaos/exit_codes.ts";
import { intFlag, parseFlags } from "./_cli.ts";
import { LocalStack } from "./local_stack.ts";
import { provision } from "./provision.ts";

const USAGE = "usage: deno task bench:stack [--runs N] [--base-port P]";

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

if (import.meta.main) {
  await runMain(async () => {
    const { values } = parseFlags(Deno.args, {
      runs: { type: "string", default: "3" },
      "base-port": { type: "string", default: "31000" },
      stack: { type: "string", default: "local" },
    }, USAGE);
    if (values.stack !== "local") {
      throw new UsageError(
        `--stack ${values.stack} is not available yet (only "local")`,
      );
    }
    const runs = intFlag("runs", values.runs, { min: 1, max: 20 })!;
    const basePort = intFlag("base-port", values["base-port"], { min: 1024, max: 65335 })!;
    const binaries = await provision();
    const ups: number[] = [];
    const downs: number[] = [];
    for (let i = 1; i <= runs; i++) {
      const t0 = performance.now();
      const stack = await LocalStack.up({ name: `bench-${Deno.pid}`, basePort, binaries });
      const up = (performance.now() - t0) / 1000;
      const t1 = performance.now();
      await stack.down();
      const down = (performance.now() - t1) / 1000;
      ups.push(up);
      downs.push(down);
      console.log(`run ${i}/${runs}: up to healthy ${up.toFixed(2)} s, down ${down.toFixed(2)} s`);
    }
    console.log(`stack_up_s=${median(ups).toFixed(2)} stack_down_s=${median(downs).toFixed(2)}`);
    return ExitCode.Pass;
  });
}

/**
 * `deno task bench:stack [--stack local|docker]`: time from `up` to a healthy
 * stack (3 brokers, MinIO, Redis, Toxiproxy; binaries provisioned and, for
 * docker, images built beforehand: not timed) and time of `down`.
 * Runs `--runs N` times (default 3) on its own ports and prints the figures,
 * last line exactly: `stack_up_s=<median> stack_down_s=<median>`.
 * @module
 */

import { ExitCode, runMain, UsageError } from "../lib/exit_codes.ts";
import { intFlag, parseFlags } from "../lib/cli.ts";
import { DockerStack } from "./docker_stack.ts";
import { ensureImages } from "./images.ts";
import { LocalStack } from "./local_stack.ts";
import type { Stack } from "./stack.ts";
import { provision } from "./provision.ts";
import { median } from "../lib/stats.ts";

const USAGE = "usage: deno task bench:stack [--runs N] [--base-port P] [--stack local|docker]";

if (import.meta.main) {
  await runMain(async () => {
    const { values } = parseFlags(Deno.args, {
      runs: { type: "string", default: "3" },
      "base-port": { type: "string", default: "31000" },
      stack: { type: "string", default: "local" },
    }, USAGE);
    if (values.stack !== "local" && values.stack !== "docker") {
      throw new UsageError(`--stack must be local or docker, got "${values.stack}"`);
    }
    const runs = intFlag("runs", values.runs, { min: 1, max: 20 })!;
    const basePort = intFlag("base-port", values["base-port"], { min: 1024, max: 65335 })!;
    const binaries = await provision();
    const images = values.stack === "docker" ? await ensureImages(binaries) : undefined;
    const ups: number[] = [];
    const downs: number[] = [];
    for (let i = 1; i <= runs; i++) {
      const t0 = performance.now();
      const name = `bench-${Deno.pid}`;
      const stack: Stack = images
        ? await DockerStack.up({ name, basePort, images })
        : await LocalStack.up({ name, basePort, binaries });
      const up = (performance.now() - t0) / 1000;
      const t1 = performance.now();
      await stack.down();
      const down = (performance.now() - t1) / 1000;
      ups.push(up);
      downs.push(down);
      console.log(`run ${i}/${runs}: up to healthy ${up.toFixed(2)} s, down ${down.toFixed(2)} s`);
    }
    console.log(`stack=${values.stack}`);
    console.log(`stack_up_s=${median(ups)!.toFixed(2)} stack_down_s=${median(downs)!.toFixed(2)}`);
    return ExitCode.Pass;
  });
}

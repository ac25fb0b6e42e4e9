/**
 * The `clock` fault on a graded component: the box's command starts under the harness's
 * libfaketime (faketime.ts `faketimeEnv`, put on the whole wrapped argv by chaos/components.ts)
 * and must run, its clock moved. The box's wrapper runs preloaded too, as root in namespaces of
 * its own: libfaketime's shared memory, made there, is nothing the box's uid may open (an honest
 * component died at start with `sem_open failed`); and the stack's folder, where clocks were
 * kept, is hidden from the box (the clock never moved): the box's clock is `clockFile()`.
 */

import assert from "node:assert/strict";
import { openSandbox, sandboxSupport } from "./sandbox.ts";
import { faketimeEnv, writeFaketime } from "./faketime.ts";
import { ensureFaketime } from "./host_tools.ts";

const why = sandboxSupport();
if (why) console.warn(`compose/sandbox_faketime_test.ts: the real tests skip: ${why}`);

Deno.test({
  name: "a boxed command started under libfaketime runs, its clock an hour ahead",
  ignore: why !== null,
  fn: async () => {
    const tmp = await Deno.makeTempDir({ prefix: "chaos-sandbox-faketime-" });
    const box = await openSandbox({ source: tmp });
    try {
      const file = box.clockFile();
      await writeFaketime(file, { offset_s: 3600, rate: 1 });
      const argv = box.wrap(["bash", "-c", "date +%s; sleep 0.2; date +%s"]);
      const before = Date.now() / 1000;
      const out = await new Deno.Command(argv[0], {
        args: argv.slice(1),
        cwd: box.cwd,
        clearEnv: true,
        env: { ...box.env(), ...faketimeEnv(await ensureFaketime(), file) },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout).trim();
      const err = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, `${text}\n${err}`);
      assert.doesNotMatch(err, /sem_open|libfaketime/, err);
      for (const seen of text.split("\n").map(Number)) {
        assert.ok(Math.abs(seen - before - 3600) < 30, `${seen} is not an hour ahead of ${before}`);
      }
    } finally {
      await box.close();
      await Deno.remove(tmp, { recursive: true });
      assert.equal(await Deno.stat(box.clockFile()).catch(() => null), null, "close removes it");
    }
  },
});

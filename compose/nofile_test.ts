import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { nofileLimit, RAISED_NOFILE } from "./nofile.ts";

Deno.test("nofileLimit() reads this process's limits on open files", () => {
  const { soft, hard } = nofileLimit();
  assert.ok(soft > 0 && soft <= hard, `${soft} / ${hard}`);
});

Deno.test({
  name: "raiseNofileLimit() raises the harness's limit on open files (as root the hard one too)",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const module = fileURLToPath(new URL("./nofile.ts", import.meta.url));
    const code = `const m = await import(${JSON.stringify(module)});` +
      `const before = m.nofileLimit(); const after = m.raiseNofileLimit();` +
      `console.log(JSON.stringify({ before, after, now: m.nofileLimit() }));`;
    // Started with a low hard limit (Deno raises the soft one to it by itself).
    const out = await new Deno.Command("bash", {
      args: ["-c", `ulimit -n 1000 && exec "$0" eval "$1"`, Deno.execPath(), code],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const { before, after, now } = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.deepEqual(before, { soft: 1000, hard: 1000 });
    assert.deepEqual({ soft: after.soft, hard: after.hard }, now);
    if (Deno.uid() === 0 && hasCapability(24)) {
      const nrOpen = Number(Deno.readTextFileSync("/proc/sys/fs/nr_open"));
      const want = Math.min(RAISED_NOFILE, nrOpen);
      assert.deepEqual(now, { soft: want, hard: want });
    } else if (Deno.uid() === 0) {
      // Root without CAP_SYS_RESOURCE (a container): the hard limit stays, and it says why.
      assert.match(after.problem, /not permitted/);
      assert.deepEqual(now, before);
    } else {
      assert.equal(after.problem, undefined);
      assert.deepEqual(now, before);
    }
  },
});

/** Whether this process has capability `bit` (CAP_SYS_RESOURCE is 24). */
function hasCapability(bit: number): boolean {
  const hex = /^CapEff:\s+([0-9a-f]+)/m.exec(Deno.readTextFileSync("/proc/self/status"))?.[1];
  return hex !== undefined && (BigInt(`0x${hex}`) & (1n << BigInt(bit))) !== 0n;
}

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  driftOffset,
  faketimeEnv,
  FaketimeError,
  faketimeFile,
  formatFaketime,
  parseFaketime,
  preloadDrops,
  type PreloadSeen,
  preloadSeen,
  probeOffsetS,
  processLives,
  REAL_CLOCK,
  underFaketime,
  writeFaketime,
} from "./faketime.ts";
import { findFaketimeLib } from "./host_tools.ts";
import { waitFor } from "../lib/wait.ts";

Deno.test("formatFaketime() writes a signed offset and an explicit rate", () => {
  assert.equal(formatFaketime({ offset_s: 90, rate: 1 }), "+90 x1");
  assert.equal(formatFaketime({ offset_s: -30, rate: 1 }), "-30 x1");
  assert.equal(formatFaketime(REAL_CLOCK), "+0 x1");
  assert.equal(formatFaketime({ offset_s: -0.0001, rate: 1.01 }), "+0 x1.01");
  assert.equal(formatFaketime({ offset_s: -12.3456, rate: 0.5 }), "-12.346 x0.5");
  // Never an exponent, which libfaketime would not read.
  assert.equal(formatFaketime({ offset_s: 31_536_000, rate: 10 }), "+31536000 x10");
  assert.equal(formatFaketime({ offset_s: 1e-7, rate: 1 }), "+0 x1");
  assert.throws(() => formatFaketime({ offset_s: 0, rate: 0 }), FaketimeError);
  assert.throws(() => formatFaketime({ offset_s: NaN, rate: 1 }), FaketimeError);
});

Deno.test("parseFaketime() reads back what formatFaketime() wrote, and nothing else", () => {
  for (const clock of [REAL_CLOCK, { offset_s: -30, rate: 1 }, { offset_s: 2.5, rate: 1.01 }]) {
    assert.deepEqual(parseFaketime(formatFaketime(clock)), clock);
  }
  assert.deepEqual(parseFaketime("+90\n"), { offset_s: 90, rate: 1 });
  assert.throws(() => parseFaketime("90"), FaketimeError);
  assert.throws(() => parseFaketime("@2000-01-01 00:00:00"), FaketimeError);
});

Deno.test("driftOffset() cancels the jump a rate makes over the process's uptime", () => {
  assert.equal(driftOffset({ offset_s: 90, rate: 1 }, 500), 90);
  // 100 s up at x1.5: libfaketime would add 50 s at once; the drift starts from now instead.
  assert.equal(driftOffset({ offset_s: 0, rate: 1.5 }, 100), -50);
  assert.equal(driftOffset({ offset_s: 10, rate: 0.5 }, 100), 60);
});

Deno.test("faketimeEnv() fakes only the wall clock, read from the file at most once a second", () => {
  const env = faketimeEnv("/lib/libfaketime.so.1", "/run/x.rc");
  assert.equal(env.LD_PRELOAD, "/lib/libfaketime.so.1");
  assert.equal(env.FAKETIME_TIMESTAMP_FILE, "/run/x.rc");
  assert.equal(env.FAKETIME_DONT_FAKE_MONOTONIC, "1");
  assert.equal(env.FAKETIME_FORCE_MONOTONIC_FIX, "0", "timed waits would spin");
  assert.equal(env.FAKETIME_CACHE_DURATION, "1");
  assert.equal(env.NO_FAKE_STAT, "1");
  assert.equal(env.FAKETIME, undefined, "FAKETIME would win over the file");
  assert.equal(faketimeFile("/run/stack", "kafka-2"), "/run/stack/faketime/kafka-2.rc");
});

const lib = await findFaketimeLib();

Deno.test({
  name: "a Deno process under the preload sees the file's offset and follows it while it runs",
  ignore: lib === undefined,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "faketime-" });
  const file = faketimeFile(dir, "probe");
  await writeFaketime(file, REAL_CLOCK);
  const env = { PATH: Deno.env.get("PATH") ?? "/usr/bin", ...faketimeEnv(lib!, file) };
  // Prints its clock minus the real one (performance.timeOrigin is read at start, real then).
  const script = "setInterval(() => console.log(Date.now() - performance.timeOrigin - " +
    "performance.now()), 200)";
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let last = NaN;
  let buffered = "";
  const reading = (async () => {
    for (;;) {
      const { value, done } = await lines.read();
      if (done) return;
      buffered += value;
      const all = buffered.split("\n");
      buffered = all.pop()!;
      if (all.length) last = Number(all[all.length - 1]) / 1000;
    }
  })();
  const near = (s: number) => () => Math.abs(last - s) < 0.5;
  try {
    await waitFor(near(0), { what: "the real clock", timeoutMs: 10_000 });
    assert.ok(underFaketime(child.pid, file), "libfaketime mapped, the file in its environ");
    await writeFaketime(file, { offset_s: 90, rate: 1 });
    await waitFor(near(90), { what: "90 s ahead", timeoutMs: 5_000, intervalMs: 100 });
    assert.ok(Math.abs(await probeOffsetS(env) - 90) < 0.5, "the probe reads the same");
    await writeFaketime(file, { offset_s: -30, rate: 1 });
    await waitFor(near(-30), { what: "30 s behind", timeoutMs: 5_000, intervalMs: 100 });
    await writeFaketime(file, REAL_CLOCK);
    await waitFor(near(0), { what: "the real clock again", timeoutMs: 5_000, intervalMs: 100 });
  } finally {
    child.kill("SIGKILL");
    await child.status;
    await lines.cancel().catch(() => {});
    await reading.catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
  assert.ok(!underFaketime(Deno.pid, join(dir, "x")), "this process is not preloaded");
});

Deno.test("preloadDrops(): only a box's process beside a preloaded one of its uid dropped it", () => {
  const box = 61234;
  const harness = 0;
  const seen = (pid: number, uid: number | undefined, environ: boolean, mapped: boolean) =>
    ({ pid, uid, environ, mapped, comm: `p${pid}` }) as PreloadSeen;
  const init = seen(10, box, true, true); // the box's init: the preload works in the box
  const wrapper = seen(1, harness, true, true);
  // Re-exec'ed without LD_PRELOAD; a static program with it still in its environment.
  const reexec = seen(11, box, false, false);
  const statik = seen(12, box, true, false);
  assert.deepEqual(preloadDrops([wrapper, init, reexec, statik], [11, 12], harness), [
    { pid: 11, uid: box, comm: "p11", how: "environ" },
    { pid: 12, uid: box, comm: "p12", how: "mapping" },
  ]);
  // The harness's own process without it is the harness's failure, never the box's.
  assert.deepEqual(preloadDrops([seen(1, harness, false, false), init], [1], harness), []);
  // No process of the box's uid under the preload: it may not work there at all (the harness's).
  assert.deepEqual(preloadDrops([wrapper, reexec, statik], [11, 12], harness), []);
  // A process of another uid, preloaded or not, proves nothing for this one.
  assert.deepEqual(preloadDrops([seen(20, 777, true, true), reexec], [11], harness), []);
  // Gone (no uid read): nothing to blame.
  assert.deepEqual(preloadDrops([init, seen(13, undefined, false, false)], [13], harness), []);
  // A process under the preload is never a drop.
  assert.deepEqual(preloadDrops([init, seen(14, box, true, true)], [], harness), []);
  // The witness's environment rewritten by the dodger (LD_PRELOAD hidden): its mapping stands.
  const hidden = seen(10, box, false, true);
  assert.deepEqual(preloadDrops([hidden, reexec], [11], harness), [
    { pid: 11, uid: box, comm: "p11", how: "environ" },
  ]);
});

Deno.test("processLives(): this process lives, a zombie and a gone pid do not", async () => {
  assert.ok(processLives(Deno.pid));
  assert.ok(!processLives(4_000_000));
  // `sleep 0`'s parent becomes `sleep 5`, which never waits for it: a zombie until then.
  const child = new Deno.Command("sh", {
    args: ["-c", "sleep 0 & echo $!; exec sleep 5"],
    stdout: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const pid = Number((await reader.read()).value?.trim());
  try {
    await waitFor(async () => {
      const stat = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => "");
      return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
    }, { what: "a zombie", timeoutMs: 5000, intervalMs: 20 });
    assert.ok(!processLives(pid), "a zombie does not live");
  } finally {
    child.kill("SIGKILL");
    await reader.cancel().catch(() => {});
    await child.status;
  }
});

Deno.test({
  name:
    "underFaketime() with the preload's library: mapped by hand without LD_PRELOAD is not under it",
  ignore: lib === undefined,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "faketime-" });
  const file = faketimeFile(dir, "probe");
  await writeFaketime(file, { offset_s: 3600, rate: 1 });
  // Its environment names the file, and it maps the library itself (dlopen): no preload.
  const child = new Deno.Command("python3", {
    args: ["-c", `import ctypes, time; ctypes.CDLL(${JSON.stringify(lib)}); time.sleep(30)`],
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin", FAKETIME_TIMESTAMP_FILE: file },
    clearEnv: true,
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await waitFor(
      () =>
        Deno.readTextFile(`/proc/${child.pid}/maps`).then((m) => m.includes("libfaketime"))
          .catch(() => false),
      { what: "the library mapped", timeoutMs: 10_000 },
    );
    assert.ok(underFaketime(child.pid, file), "what the mapping and the file alone say");
    assert.ok(!underFaketime(child.pid, file, lib!), "without LD_PRELOAD naming it: not under it");
    assert.ok(preloadSeen(child.pid, lib!, file).mapped, "the library itself is mapped");
  } finally {
    child.kill("SIGKILL");
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("preloadSeen(): this process is seen as it is (no preload), a gone pid as nothing", () => {
  const me = preloadSeen(Deno.pid, "/lib/libfaketime.so.1", "/run/x.rc");
  assert.equal(me.uid, Deno.uid());
  assert.equal(me.environ, false);
  assert.equal(me.mapped, false);
  assert.equal(typeof me.comm, "string");
  assert.deepEqual(preloadSeen(4_000_000, "/lib/x.so", "/run/x.rc"), {
    pid: 4_000_000,
    environ: false,
    mapped: false,
  });
});

if (lib === undefined) {
  console.warn(
    "libfaketime is not installed: the preload test is skipped (apt install libfaketime)",
  );
}

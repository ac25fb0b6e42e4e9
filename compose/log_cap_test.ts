import assert from "node:assert/strict";
import { join } from "node:path";
import { cappedArgv, cappedWriter, truncatedLine, uncappedArgv } from "./log_cap.ts";

/** Runs `argv` as a component's node does (compose/process_node.ts): its output appended to `log`. */
async function runLogged(argv: string[], log: string): Promise<number> {
  const script = 'log=$1; shift; exec "$@" >>"$log" 2>&1';
  const out = await new Deno.Command("sh", { args: ["-c", script, "sh", log, ...argv] }).output();
  return out.code;
}

Deno.test("cappedArgv() keeps the cap of a flood, says it was truncated, and the program runs on", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "chaos-log-cap-" });
  try {
    const log = join(tmp, "sink.log");
    const marker = join(tmp, "finished");
    // 300 kB on stdout (past a pipe's buffer), 2 kB on stderr, then it goes on (not killed by a closed pipe) and exits 7.
    const flood =
      `head -c 300000 /dev/zero | tr '\\0' o; head -c 2000 /dev/zero | tr '\\0' e >&2; ` +
      `touch ${marker}; exit 7`;
    const code = await runLogged(
      cappedArgv(["bash", "-c", flood], { who: "the sink", capBytes: 1000 }),
      log,
    );
    assert.equal(code, 7, "the command's exit code");
    await Deno.stat(marker);
    const text = await Deno.readTextFile(log);
    assert.equal(text, "o".repeat(1000) + truncatedLine(1000, "the sink"));
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("cappedArgv() keeps a log at or under the cap whole, without a truncation line", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "chaos-log-cap-" });
  try {
    for (const n of [0, 999, 1000]) {
      const log = join(tmp, `${n}.log`);
      const argv = cappedArgv(["bash", "-c", `head -c ${n} /dev/zero | tr '\\0' x`], {
        who: "the detector",
        capBytes: 1000,
      });
      assert.equal(await runLogged(argv, log), 0);
      assert.equal(await Deno.readTextFile(log), "x".repeat(n), `${n} bytes`);
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("cappedArgv() loses nothing when the node's group is stopped: short lines, then SIGTERM", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "chaos-log-cap-" });
  try {
    const log = join(tmp, "sink.log");
    // As a component is stopped: its whole process group gets SIGTERM (setsid: its own group).
    const argv = cappedArgv(
      [
        "bash",
        "-c",
        "echo started; trap 'echo stopping; exit 0' TERM; while :; do sleep 0.1; done",
      ],
      { who: "the sink", capBytes: 1_000_000 },
    );
    const script = 'log=$1; shift; exec "$@" >>"$log" 2>&1';
    const child = new Deno.Command("setsid", { args: ["sh", "-c", script, "sh", log, ...argv] })
      .spawn();
    // Whatever the assertions say, the group goes (its reader ignores SIGTERM: it ends at EOF).
    const group = -child.pid;
    const cleanup = () => {
      try {
        Deno.kill(group, "SIGKILL");
      } catch { /* gone */ }
    };
    try {
      for (let i = 0; i < 100 && !(await Deno.readTextFile(log).catch(() => "")); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(await Deno.readTextFile(log), "started\n", "written as it came, not held");
      Deno.kill(-child.pid, "SIGTERM");
      await child.status;
      for (let i = 0; i < 100 && !(await Deno.readTextFile(log)).includes("stopping"); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      const text = await Deno.readTextFile(log);
      assert.ok(text.startsWith("started\n") && text.endsWith("stopping\n"), text); // and bash's "Terminated"
    } finally {
      cleanup();
      await child.status;
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("cappedArgv() writes the box's OOM kills while the command ran, none before", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "chaos-log-cap-" });
  try {
    // A memory cgroup's files as the v1 kernel writes them: one kill before the start.
    const cg = join(tmp, "cg");
    await Deno.mkdir(cg);
    const oom = (n: number) => `oom_kill_disable 0\nunder_oom 0\noom_kill ${n}\n`;
    await Deno.writeTextFile(join(cg, "memory.oom_control"), oom(1));
    await Deno.writeTextFile(join(cg, "memory.limit_in_bytes"), String(64 * 1024 * 1024));
    const killed = `echo started; printf '${oom(3).replaceAll("\n", "\\n")}' >${
      join(cg, "memory.oom_control")
    }; exit 137`;
    const log = join(tmp, "sink.log");
    const argv = cappedArgv(["bash", "-c", killed], { who: "the sink", memoryCgroup: cg });
    assert.equal(await runLogged(argv, log), 137);
    assert.equal(
      await Deno.readTextFile(log),
      "started\n[chaos-harness] the sink's sandbox reached its memory bound (64 MiB): the " +
        "kernel's OOM killer killed 2 of its processes\n",
    );
    // No new kill: no line.
    const quiet = join(tmp, "quiet.log");
    const calm = cappedArgv(["bash", "-c", "echo fine"], { who: "the sink", memoryCgroup: cg });
    assert.equal(await runLogged(calm, quiet), 0);
    assert.equal(await Deno.readTextFile(quiet), "fine\n");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("uncappedArgv() gives back the wrapped command, any other argv as it is", () => {
  const argv = ["unshare", "--mount", "--", "bash", "-c", "true"];
  assert.deepEqual(uncappedArgv(cappedArgv(argv, { who: "the sink" })), argv);
  assert.deepEqual(uncappedArgv(argv), argv);
  assert.deepEqual(uncappedArgv(["bash", "-c", "exec sink"]), ["bash", "-c", "exec sink"]);
});

Deno.test("cappedWriter() keeps the first bytes across chunks, then one truncation line", () => {
  const written: number[] = [];
  // A file that writes at most 3 bytes a call: every byte kept is written all the same.
  const file = {
    writeSync: (p: Uint8Array) => {
      written.push(...p.subarray(0, 3));
      return Math.min(3, p.length);
    },
  };
  const write = cappedWriter(file, { capBytes: 10, who: "setup" });
  write(new TextEncoder().encode("abcdef"));
  write(new TextEncoder().encode("ghijkl"));
  write(new TextEncoder().encode("mnop"));
  assert.equal(
    new TextDecoder().decode(new Uint8Array(written)),
    "abcdefghij" + truncatedLine(10, "setup"),
  );
  const exact: number[] = [];
  const whole = cappedWriter({ writeSync: (p) => exact.push(...p) && p.length }, { capBytes: 4 });
  whole(new TextEncoder().encode("abcd"));
  assert.equal(new TextDecoder().decode(new Uint8Array(exact)), "abcd", "at the cap: no line");
});

import assert from "node:assert/strict";
import { join } from "node:path";
import { repoRoot } from "./paths.ts";
import { sleep } from "../lib/wait.ts";
import {
  boxPath,
  chainRules,
  cleanStale,
  homeToolchains,
  MAX_PROCESSES,
  mountScript,
  openSandbox,
  PRIVATE_V4,
  processesOf,
  sandboxSupport,
  setupAllowFromEnv,
  splitHostPort,
  wrappedUid,
  youngFolder,
} from "./sandbox.ts";

Deno.test("splitHostPort() takes host:port and URLs, refuses values without a port", () => {
  assert.deepEqual(splitHostPort("127.0.0.1:29111"), { host: "127.0.0.1", port: 29111 });
  assert.deepEqual(splitHostPort("http://localhost:9000"), { host: "127.0.0.1", port: 9000 });
  assert.deepEqual(splitHostPort("redis://127.0.0.1:29020"), { host: "127.0.0.1", port: 29020 });
  assert.deepEqual(splitHostPort("kafka.example:9092"), { host: "kafka.example", port: 9092 });
  assert.throws(() => splitHostPort("127.0.0.1"), /no port/);
});

Deno.test("chainRules() lets a pipeline reach its endpoints only, setup the world but not this host", () => {
  const pipeline = chainRules({ kind: "pipeline", endpoints: ["127.0.0.1:1234"] }, ["10.0.0.53"]);
  assert.deepEqual(pipeline.map((r) => r.join(" ")), [
    "-m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
    "-p tcp --syn -m connlimit --connlimit-above 512 --connlimit-mask 0 -j REJECT " +
    "--reject-with tcp-reset",
    "-m conntrack --ctstate NEW -m hashlimit --hashlimit-above 200/sec --hashlimit-burst 1000 " +
    "--hashlimit-mode srcip --hashlimit-srcmask 0 --hashlimit-name chaos-sb -j REJECT",
    "-p tcp --syn -d 127.0.0.1 --dport 1234 -m connlimit --connlimit-above 64 --connlimit-mask 0 " +
    "-j REJECT --reject-with tcp-reset",
    "-p tcp -d 127.0.0.1 --dport 1234 -j ACCEPT",
    "-p tcp -j REJECT --reject-with tcp-reset",
    "-j REJECT",
  ]);
  const setup = chainRules({ kind: "setup" }, ["10.0.0.53"]).map((r) => r.join(" "));
  const world = setup.indexOf("-p tcp -j ACCEPT");
  assert.ok(!setup.includes("-j ACCEPT"), "no UDP or ICMP to the world");
  assert.ok(world > setup.indexOf("-d 127.0.0.0/8 -j REJECT"));
  assert.ok(world > setup.indexOf("-m addrtype --dst-type LOCAL -j REJECT"));
  assert.ok(setup.includes("-p udp -d 10.0.0.53 --dport 53 -j ACCEPT"));
  // Not the instance metadata, the private networks, other runs' containers: before the world.
  for (const cidr of PRIVATE_V4) assert.ok(setup.indexOf(`-d ${cidr} -j REJECT`) < world, cidr);
  assert.ok(
    setup.indexOf("-p udp -d 10.0.0.53 --dport 53 -j ACCEPT") <
      setup.indexOf("-d 10.0.0.0/8 -j REJECT"),
  );
  // A mirror the grader named goes before them; a bad value is refused.
  const mirror = chainRules({ kind: "setup" }, [], 4, ["10.1.2.0/24"]).map((r) => r.join(" "));
  assert.ok(mirror.indexOf("-d 10.1.2.0/24 -j ACCEPT") < mirror.indexOf("-d 10.0.0.0/8 -j REJECT"));
  assert.deepEqual(setupAllowFromEnv(" 10.1.2.0/24, fd00::/8 "), ["10.1.2.0/24", "fd00::/8"]);
  assert.throws(() => setupAllowFromEnv("10.1.2.3; iptables -F"), /no CIDR/);
  assert.ok(
    chainRules({ kind: "pipeline", endpoints: ["10.0.0.9:9092"] }, []).some((r) =>
      r.join(" ") === "-p tcp -d 10.0.0.9 --dport 9092 -j ACCEPT"
    ),
  );
  assert.equal(chainRules({ kind: "none" }, []).length, 5);
  // The box's connections are bounded first, whatever they reach.
  assert.match(
    chainRules({ kind: "setup" }, [], 4, [], 64)[1].join(" "),
    /--syn -m connlimit --connlimit-above 64 --connlimit-mask 0 -j REJECT/,
  );
  assert.throws(
    () => chainRules({ kind: "pipeline", endpoints: ["kafka.example:9092"] }, []),
    /not an IPv4/,
  );
  // Over IPv6 a pipeline reaches nothing; setup reaches the world but not ::1 or this host.
  const v6 = chainRules({ kind: "pipeline", endpoints: ["127.0.0.1:1234"] }, [], 6);
  assert.ok(!v6.some((r) => r.at(-1) === "ACCEPT" && !r.includes("conntrack")));
  const setup6 = chainRules({ kind: "setup" }, ["10.0.0.53", "fd00::53"], 6).map((r) =>
    r.join(" ")
  );
  assert.ok(setup6.includes("-d ::1/128 -j REJECT"));
  assert.ok(setup6.includes("-p udp -d fd00::53 --dport 53 -j ACCEPT"));
  assert.ok(!setup6.some((r) => r.includes("10.0.0.53")));
});

Deno.test("homeToolchains() shows the toolchains of the grader's home, never its cache or keys", () => {
  const all = () => true;
  assert.deepEqual(
    homeToolchains(
      "/root/.pyenv/shims:/root/.cache/chaos-harness/deno/bin:/root/.ssh:/usr/bin:/root/.cargo/bin:/root",
      "/root",
      all,
    ),
    ["/root/.pyenv", "/root/.cargo/bin", "/root/.rustup"],
  );
});

Deno.test("homeToolchains() shows what a toolchain runs from, never the rest of its folder", () => {
  const all = () => true;
  const shown = homeToolchains(
    "/root/.cargo/bin:/root/.local/bin:/root/go/bin:/root/.cargo/../.ssh:/root/tools/x/../bin",
    "/root",
    all,
  );
  assert.deepEqual(shown, [
    "/root/.cargo/bin",
    "/root/.rustup",
    "/root/.local/bin",
    "/root/.local/lib",
    "/root/go/bin",
    "/root/tools/bin",
  ]);
  // Never the whole of ~/.cargo (its registry cache and credentials) or ~/.local (~/.local/share).
  for (const whole of ["/root/.cargo", "/root/.local", "/root/go", "/root/tools"]) {
    assert.ok(!shown.includes(whole), `${whole} is shown whole`);
  }
  // Only what exists is bound (a missing source would fail the box's mounts).
  assert.deepEqual(
    homeToolchains("/root/.cargo/bin:/root/.local/bin", "/root", (p) => p.endsWith("/bin")),
    ["/root/.cargo/bin", "/root/.local/bin"],
  );
});

Deno.test("mountScript() stages binds under a hidden folder and keeps only the writable binds writable", () => {
  const s = mountScript({
    hide: ["/root", "/root/.cache/x", "/srv/runs"],
    binds: [
      { src: "/root/.cache/deno", dst: "/root/.cache/deno" },
      { src: "/work/repo", dst: "/work/repo" },
      { src: "/b/1/work", dst: "/srv/team", rw: true },
    ],
    stage: "/b/1/stage",
    cwd: "/srv/team",
    uid: 61234,
  });
  // /root's replacement is built in the stage (the cache bound into it) and moved in place.
  assert.match(s, /mount -t tmpfs [^\n]* '\/b\/1\/stage'\nmkdir -p '\/b\/1\/stage\/.cache\/deno'/);
  assert.match(s, /mount --move '\/b\/1\/stage' '\/root'/);
  // A hide inside a hidden folder is gone already; a read-only bind onto itself adds nothing.
  assert.doesNotMatch(s, /\/root\/.cache\/x/);
  assert.doesNotMatch(s, /mount --bind '\/work\/repo'/);
  assert.match(s, /chaos-hidden '\/srv\/runs'/);
  assert.match(s, /mount --bind '\/b\/1\/work' '\/srv\/team'/);
  assert.match(s, /case "\$m" in \/proc\|\/proc\/\*\|'\/srv\/team'\) continue/);
  assert.match(s, /setpriv --reuid 61234 --regid 61234 --clear-groups --no-new-privs/);
});

Deno.test("boxPath() keeps absolute folders only: an empty or relative entry would run the team's tools as root", () => {
  assert.equal(
    boxPath(["/opt/deno/bin", ":/usr/bin::bin:./x:/bin:", "/usr/bin"]),
    "/opt/deno/bin:/usr/bin:/bin",
  );
  assert.equal(boxPath(["", ".:tools"]), "/usr/bin:/bin");
});

Deno.test("wrappedUid() reads the uid a wrapped argv runs as, nothing from another argv", () => {
  const plan = { hide: [], binds: [], stage: "/b/61234/stage", cwd: "/srv/team", uid: 61234 };
  const argv = ["unshare", "--mount", "--", "bash", "-c", mountScript(plan), "init", "sh"];
  assert.equal(wrappedUid(argv), 61234);
  assert.equal(wrappedUid(["bash", "-c", "exec setpriv --reuid 61234 --regid 1"]), undefined);
  assert.equal(wrappedUid(["unshare", "--", "bash", "-c", "true"]), undefined);
});

const why = sandboxSupport();
if (why) console.warn(`compose/sandbox_test.ts: the real sandbox tests skip: ${why}`);

/** The hostile command: each attempt prints `<name> ok` or `<name> blocked`. */
const HOSTILE = `
try() { local name=$1; shift; if "$@" >/dev/null 2>&1; then echo "$name ok"; else echo "$name blocked"; fi; }
try write-harness touch "$HARNESS/compose/pwned.ts"
try write-harness-runs touch "$HARNESS/reports/runs/pwned"
try write-cache touch "$DENO_DIR/pwned"
try write-deno touch "$DENO_BIN/pwned"
try read-run cat "$RUN/results.json"
try write-run touch "$RUN/pwned"
try read-grader-environ grep -q chaos-grader-secret "/proc/$GRADER/environ"
try read-init-environ grep -q chaos-grader-secret /proc/1/environ
try see-grader test -e "/proc/$GRADER"
try write-etc touch /etc/pwned
try inherited-fd test -e /proc/self/fd/7
try read-shown cat "$SHOWN/code.ts"
try write-shown touch "$SHOWN/pwned"
try read-shown-hidden cat "$SHOWN/runs/results.json"
try connect-other timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$OTHER"
try connect-v6 timeout 3 bash -c "exec 3<>/dev/tcp/::1/$V6"
try connect-endpoint timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$ENDPOINT"
try write-own touch ./mine
try write-tmp touch /tmp/mine
try run-deno deno eval 'Deno.exit(0)'
try run-python python3 -c 'import sys; sys.exit(0)'
try raise-nproc bash -c 'ulimit -u unlimited'
echo "nproc $(ulimit -u)"
setsid -f sleep 1000
echo "daemon left"
`;

Deno.test({
  name:
    "a sandboxed command can write only its own copy, reach only the endpoints, and leaves nothing",
  ignore: why !== null,
  sanitizeResources: false,
  fn: async () => {
    const tmp = await Deno.makeTempDir({ prefix: "chaos-sandbox-test-" });
    const team = join(tmp, "team");
    const run = join(tmp, "run");
    await Deno.mkdir(team);
    await Deno.mkdir(run);
    await Deno.writeTextFile(join(team, "hostile.sh"), HOSTILE);
    await Deno.writeTextFile(join(run, "results.json"), "{}");
    // A tree shown read-only under /tmp (a harness cloned there), with a run folder hidden inside.
    const shown = join(tmp, "shown");
    await Deno.mkdir(join(shown, "runs"), { recursive: true });
    await Deno.writeTextFile(join(shown, "code.ts"), "export {};");
    await Deno.writeTextFile(join(shown, "runs", "results.json"), "{}");
    // The grader: a process of the harness's with a secret in its environment.
    const grader = new Deno.Command("sleep", {
      args: ["60"],
      env: { CHAOS_SECRET: "chaos-grader-secret" },
    }).spawn();
    const endpoint = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const other = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const v6 = Deno.listen({ hostname: "::1", port: 0 });
    const accepting = [endpoint, other, v6].map(async (l) => {
      for await (const c of l) c.close();
    });
    const box = await openSandbox({
      source: team,
      hide: [run, join(shown, "runs")],
      expose: [shown],
    });
    try {
      await box.network({ kind: "pipeline", endpoints: [`127.0.0.1:${endpoint.addr.port}`] });
      const env = box.env();
      const argv = box.wrap(["bash", "hostile.sh"]);
      // Started by a parent holding an open descriptor (a grader under `flock`): not inherited.
      const out = await new Deno.Command("bash", {
        args: ["-c", 'exec 7<>"$0"; exec "$@"', join(run, "results.json"), ...argv],
        cwd: box.cwd,
        clearEnv: true,
        env: {
          ...env,
          HARNESS: repoRoot,
          DENO_BIN: env.PATH.split(":")[0],
          RUN: run,
          SHOWN: shown,
          GRADER: String(grader.pid),
          OTHER: String(other.addr.port),
          ENDPOINT: String(endpoint.addr.port),
          V6: String(v6.addr.port),
        },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout);
      const result = Object.fromEntries(
        text.trim().split("\n").map((l) => l.split(" ")).filter((p) => p.length === 2),
      );
      const msg = `${text}\n${new TextDecoder().decode(out.stderr)}`;
      for (
        const attack of [
          "write-harness",
          "write-harness-runs",
          "write-cache",
          "write-deno",
          "read-run",
          "write-run",
          "read-grader-environ",
          "read-init-environ",
          "see-grader",
          "write-etc",
          "connect-other",
          "connect-v6",
          "inherited-fd",
          "write-shown",
          "read-shown-hidden",
          "raise-nproc",
        ]
      ) assert.equal(result[attack], "blocked", `${attack}: ${msg}`);
      // Its processes and threads are bounded: a fork bomb stays inside the box.
      assert.equal(result.nproc, String(MAX_PROCESSES), msg);
      for (
        const allowed of [
          "connect-endpoint",
          "write-own",
          "write-tmp",
          "run-deno",
          "run-python",
          "read-shown",
        ]
      ) {
        assert.equal(result[allowed], "ok", `${allowed}: ${msg}`);
      }
      assert.match(text, /daemon left/);
      // The namespace's pid 1 exited: its daemon went with it, before any sweep.
      assert.deepEqual(processesOf(box.uid), []);
      // Its copy changed, the original did not.
      await Deno.stat(join(box.dir, "work", "mine"));
      await assert.rejects(Deno.stat(join(team, "mine")), Deno.errors.NotFound);
      await assert.rejects(Deno.stat(join(repoRoot, "compose", "pwned.ts")), Deno.errors.NotFound);
    } finally {
      const { survivors } = await box.close();
      assert.deepEqual(survivors, []);
      grader.kill("SIGKILL");
      await grader.status;
      endpoint.close();
      other.close();
      v6.close();
      await Promise.allSettled(accepting);
      await Deno.remove(tmp, { recursive: true });
    }
    assert.deepEqual(processesOf(box.uid), []);
    await assert.rejects(Deno.stat(box.dir), Deno.errors.NotFound);
    const chains = new Deno.Command("iptables", { args: ["-w", "-S"], stdout: "piped" })
      .outputSync();
    assert.doesNotMatch(new TextDecoder().decode(chains.stdout), new RegExp(box.chain));
  },
});

Deno.test({
  name: "close() kills what the uid runs outside the namespace too (a daemon that escaped)",
  ignore: why !== null,
  fn: async () => {
    const tmp = await Deno.makeTempDir({ prefix: "chaos-sandbox-test-" });
    const box = await openSandbox({ source: tmp });
    // A process of the uid that no namespace holds (as if the pid namespace had been left).
    const stray = new Deno.Command("setpriv", {
      args: [
        "--reuid",
        String(box.uid),
        "--regid",
        String(box.uid),
        "--clear-groups",
        "sleep",
        "1000",
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    for (let i = 0; i < 100 && processesOf(box.uid).length === 0; i++) await sleep(20);
    assert.deepEqual(processesOf(box.uid), [stray.pid]);
    const { survivors } = await box.close();
    await stray.status;
    assert.deepEqual(survivors, []);
    assert.deepEqual(processesOf(box.uid), []);
    await Deno.remove(tmp, { recursive: true });
  },
});

/** One component's attacks on the other box: each prints `<name> ok` or `<name> blocked`. */
const NEIGHBOUR = `
try() { local name=$1; shift; if "$@" >/dev/null 2>&1; then echo "$name ok"; else echo "$name blocked"; fi; }
try see-other test -e "/proc/$OTHER_PID"
try signal-other kill -0 "$OTHER_PID"
try read-other-environ grep -q other-secret "/proc/$OTHER_PID/environ"
try list-boxes ls "$BASE/$OTHER_UID"
try read-other-work cat "$BASE/$OTHER_UID/work/setup-built"
try read-other-home cat "$BASE/$OTHER_UID/home/setup-home"
try read-other-written cat "$OTHER_CWD/other-wrote"
try read-other-tmp cat /tmp/other-tmp
try connect-other-endpoint timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$OTHER_ENDPOINT"
try connect-own-endpoint timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$OWN_ENDPOINT"
try read-setup-work cat ./setup-built
try read-setup-home cat "$HOME/setup-home"
try write-own touch ./mine
echo "uid $(id -u)"
echo "kill-all sent"
kill -KILL -1
`;

Deno.test({
  name: "two boxes copied from one setup: neither sees, signals or reads the other, " +
    "nor reaches the other's endpoints",
  ignore: why !== null,
  sanitizeResources: false,
  fn: async () => {
    const tmp = await Deno.makeTempDir({ prefix: "chaos-sandbox-test-" });
    const team = join(tmp, "team");
    await Deno.mkdir(team);
    await Deno.writeTextFile(join(team, "neighbour.sh"), NEIGHBOUR);
    const listeners = [0, 1].map(() => Deno.listen({ hostname: "127.0.0.1", port: 0 }));
    const accepting = listeners.map(async (l) => {
      for await (const c of l) c.close();
    });
    const setup = await openSandbox({ source: team });
    const boxes: Awaited<ReturnType<typeof openSandbox>>[] = [setup];
    let other: Deno.ChildProcess | undefined;
    try {
      // Setup builds in its work folder and its HOME; each component box gets a copy of both.
      const setupArgv = setup.wrap([
        "bash",
        "-c",
        'echo w >setup-built && echo h >"$HOME/setup-home"',
      ]);
      const built = await new Deno.Command(setupArgv[0], {
        args: setupArgv.slice(1),
        cwd: setup.cwd,
        clearEnv: true,
        env: setup.env(),
      }).output();
      assert.equal(built.code, 0, new TextDecoder().decode(built.stderr));
      await setup.network({ kind: "none" });
      const a = await openSandbox({ source: team, from: setup });
      boxes.push(a);
      const b = await openSandbox({ source: team, from: setup });
      boxes.push(b);
      assert.notEqual(a.uid, b.uid);
      assert.equal(a.env().HOME, setup.env().HOME, "HOME where setup left it");
      const [ea, eb] = listeners.map((l) => `127.0.0.1:${(l.addr as Deno.NetAddr).port}`);
      await a.network({ kind: "pipeline", endpoints: [ea] });
      await b.network({ kind: "pipeline", endpoints: [eb] });
      // B: writes in its work folder, HOME and /tmp, then runs with a secret in its environment.
      const bArgv = b.wrap([
        "bash",
        "-c",
        'echo b >other-wrote; echo b >"$HOME/other-home"; echo b >/tmp/other-tmp; exec sleep 60',
      ]);
      other = new Deno.Command(bArgv[0], {
        args: bArgv.slice(1),
        cwd: b.cwd,
        clearEnv: true,
        env: { ...b.env(), OTHER_SECRET: "other-secret" },
        stdout: "null",
        stderr: "null",
      }).spawn();
      // Started, also on a loaded machine (a box takes a while to mount and drop its rights).
      const cmdline = (pid: number) => {
        try {
          return Deno.readTextFileSync(`/proc/${pid}/cmdline`);
        } catch {
          return "";
        }
      };
      let sleeper: number | undefined;
      for (let i = 0; i < 1200 && sleeper === undefined; i++) {
        sleeper = processesOf(b.uid).find((pid) => cmdline(pid).startsWith("sleep"));
        if (sleeper === undefined) await sleep(25);
      }
      assert.ok(sleeper, "the other box's process runs");
      await Deno.stat(join(b.dir, "work", "other-wrote"));
      const aArgv = a.wrap(["bash", "neighbour.sh"]);
      const out = await new Deno.Command(aArgv[0], {
        args: aArgv.slice(1),
        cwd: a.cwd,
        clearEnv: true,
        env: {
          ...a.env(),
          OTHER_PID: String(sleeper),
          OTHER_UID: String(b.uid),
          OTHER_CWD: join(b.dir, "work"),
          BASE: join(b.dir, ".."),
          OTHER_ENDPOINT: eb.split(":")[1],
          OWN_ENDPOINT: ea.split(":")[1],
        },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout);
      const msg = `${text}\n${new TextDecoder().decode(out.stderr)}`;
      const result = Object.fromEntries(
        text.trim().split("\n").map((l) => l.split(" ")).filter((p) => p.length === 2),
      );
      for (
        const attack of [
          "see-other",
          "signal-other",
          "read-other-environ",
          "list-boxes",
          "read-other-work",
          "read-other-home",
          "read-other-written",
          "read-other-tmp",
          "connect-other-endpoint",
        ]
      ) assert.equal(result[attack], "blocked", `${attack}: ${msg}`);
      for (
        const allowed of ["connect-own-endpoint", "read-setup-work", "read-setup-home", "write-own"]
      ) assert.equal(result[allowed], "ok", `${allowed}: ${msg}`);
      assert.equal(result.uid, String(a.uid), msg);
      assert.match(text, /kill-all sent/);
      // A's `kill -1` reached its own namespace only: B's process still runs, as B's uid.
      assert.ok(processesOf(b.uid).includes(sleeper!), "the other box's process survived");
      assert.deepEqual(processesOf(a.uid), []);
      // A's write is in A's copy only; B's in B's; the setup box's copy is unchanged.
      await Deno.stat(join(a.dir, "work", "mine"));
      await assert.rejects(Deno.stat(join(b.dir, "work", "mine")), Deno.errors.NotFound);
      await assert.rejects(Deno.stat(join(setup.dir, "work", "mine")), Deno.errors.NotFound);
    } finally {
      for (const box of boxes.reverse()) assert.deepEqual((await box.close()).survivors, []);
      await other?.status;
      listeners.forEach((l) => l.close());
      await Promise.allSettled(accepting);
      await Deno.remove(tmp, { recursive: true });
    }
    for (const box of boxes) {
      assert.deepEqual(processesOf(box.uid), []);
      await assert.rejects(Deno.stat(box.dir), Deno.errors.NotFound);
    }
  },
});

Deno.test({
  name: "cleanStale() leaves a box folder being made (no pid file yet, young) to its grader; " +
    "an old one without a pid file is removed",
  ignore: sandboxSupport() !== null,
  fn: async () => {
    const base = await Deno.makeTempDir({ dir: "/var/lib", prefix: "chaos-stale-test-" });
    try {
      const making = join(base, "64990");
      const left = join(base, "64991");
      Deno.mkdirSync(making);
      Deno.mkdirSync(left);
      const hourAgo = new Date(Date.now() - 3_600_000);
      Deno.utimeSync(left, hourAgo, hourAgo);
      assert.equal(youngFolder(making), true);
      assert.equal(youngFolder(left), false);
      assert.deepEqual(await cleanStale(base), [64991]);
      Deno.statSync(making);
      assert.throws(() => Deno.statSync(left), Deno.errors.NotFound);
    } finally {
      await Deno.remove(base, { recursive: true });
    }
  },
});

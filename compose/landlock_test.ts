import assert from "node:assert/strict";
import { join } from "node:path";
import { landlockHelper } from "./landlock.ts";
import {
  listenPorts,
  mountScript,
  openSandbox,
  processesOf,
  type Sandbox,
  sandboxSupport,
} from "./sandbox.ts";
import { sleep } from "../lib/wait.ts";

Deno.test("listenPorts() lets setup bind anything, a component its own ports and an ephemeral one", () => {
  assert.equal(listenPorts({ kind: "setup" }), "any");
  assert.equal(listenPorts({ kind: "none" }), "0");
  assert.equal(listenPorts({ kind: "pipeline", endpoints: [] }), "any");
  assert.equal(listenPorts({ kind: "pipeline", endpoints: [], listen: [29051] }), "0,29051");
  assert.equal(listenPorts({ kind: "pipeline", endpoints: [], listen: [] }), "0");
});

Deno.test("mountScript() runs the command through the Landlock helper when the box has one", () => {
  const plan = { hide: [], binds: [], stage: "/b/1/stage", cwd: "/srv/team", uid: 61234 };
  const helper = { helper: "/b/bin/chaos-landlock-x", ports: "/b/61234/listen" };
  assert.match(
    mountScript({ ...plan, landlock: helper }),
    /--bounding-set=-all -- "\$\{pre\[@\]\}" '\/b\/bin\/chaos-landlock-x' '\/b\/61234\/listen' -- bash -c /,
  );
  assert.doesNotMatch(mountScript(plan), /chaos-landlock/);
});

const why = sandboxSupport() ??
  await landlockHelper("/var/lib/chaos-sandbox").then((h) => "problem" in h ? h.problem : null);
if (why) console.warn(`compose/landlock_test.ts: the real Landlock tests skip: ${why}`);

/** `python3 -c code` in `box` (with TRY: prints `<name> ok` or `<name> blocked` per attempt). */
function python(box: Sandbox, code: string, env: Record<string, string> = {}) {
  const argv = box.wrap(["python3", "-c", code]);
  return new Deno.Command(argv[0], {
    args: argv.slice(1),
    cwd: box.cwd,
    clearEnv: true,
    env: { ...box.env(), ...env },
    stdout: "piped",
    stderr: "piped",
  });
}

const TRY = `
import socket, sys, os
def attempt(name, f):
    try:
        f(); print(name, "ok")
    except OSError as e:
        print(name, "blocked", e.errno)
def abstract(path):
    s = socket.socket(socket.AF_UNIX); s.connect(path)
def bind(port):
    s = socket.socket(); s.bind(("127.0.0.1", port))
`;

/** A listener on the abstract socket `name` in `box`, until killed. */
function listener(box: Sandbox, name: string): Deno.ChildProcess {
  const code = `import socket, time
s = socket.socket(socket.AF_UNIX); s.bind("\\0${name}"); s.listen()
print("listening", flush=True); time.sleep(120)`;
  return python(box, code).spawn();
}

async function untilListening(child: Deno.ChildProcess): Promise<void> {
  const reader = child.stdout.getReader();
  const { value } = await reader.read();
  reader.releaseLock();
  assert.match(new TextDecoder().decode(value), /listening/);
}

Deno.test({
  name: "boxes reach no abstract unix socket but their own, and bind only the ports they are given",
  ignore: why !== null,
  sanitizeResources: false,
  fn: async () => {
    const tmp = await Deno.makeTempDir({ prefix: "chaos-landlock-test-" });
    const bounds = { diskMb: 32, memoryMb: 256 };
    const a = await openSandbox({ source: tmp, bounds });
    const b = await openSandbox({ source: tmp, bounds });
    const children: Deno.ChildProcess[] = [];
    // One on the host, outside every box (the grader's, a daemon's).
    const hostName = `chaos-host-${a.uid}`;
    const host = new Deno.Command("python3", {
      args: [
        "-c",
        `import socket, time\ns = socket.socket(socket.AF_UNIX); s.bind("\\0${hostName}")\n` +
        `s.listen(); print("listening", flush=True); time.sleep(120)`,
      ],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    children.push(host);
    try {
      const free = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const own = (free.addr as Deno.NetAddr).port;
      free.close();
      await a.network({ kind: "pipeline", endpoints: [], listen: [own] });
      await b.network({ kind: "pipeline", endpoints: [], listen: [] });
      const inB = listener(b, `chaos-b-${b.uid}`);
      children.push(inB);
      await untilListening(inB);
      await untilListening(host);
      // A's own listener, and the attempts, in one command of A's box.
      const code = TRY + `
import threading
mine = socket.socket(socket.AF_UNIX); mine.bind("\\0chaos-a-${a.uid}"); mine.listen()
attempt("connect-other-box", lambda: abstract("\\0chaos-b-${b.uid}"))
attempt("connect-host", lambda: abstract("\\0${hostName}"))
attempt("connect-own", lambda: abstract("\\0chaos-a-${a.uid}"))
attempt("bind-given", lambda: bind(${own}))
attempt("bind-ephemeral", lambda: bind(0))
attempt("bind-other", lambda: bind(${own === 65535 ? own - 1 : own + 1}))
`;
      const out = await python(a, code).output();
      const text = new TextDecoder().decode(out.stdout);
      const msg = `${text}\n${new TextDecoder().decode(out.stderr)}`;
      const result = Object.fromEntries(
        text.trim().split("\n").map((l) => l.split(" ")).map((p) => [p[0], p[1]]),
      );
      for (const attack of ["connect-other-box", "connect-host", "bind-other"]) {
        assert.equal(result[attack], "blocked", `${attack}: ${msg}`);
      }
      for (const allowed of ["connect-own", "bind-given", "bind-ephemeral"]) {
        assert.equal(result[allowed], "ok", `${allowed}: ${msg}`);
      }
      // B was given no ports: any port of its choosing is refused; setup's policy binds any.
      const bOut = await python(b, TRY + `attempt("bind", lambda: bind(${own}))`).output();
      assert.match(new TextDecoder().decode(bOut.stdout), /bind blocked/);
      await b.network({ kind: "setup" });
      const setup = await python(b, TRY + `attempt("bind", lambda: bind(${own}))`).output();
      assert.match(new TextDecoder().decode(setup.stdout), /bind ok/);
      // Without a box (the control): the host's abstract socket answers.
      const control = await new Deno.Command("python3", {
        args: ["-c", TRY + `attempt("connect", lambda: abstract("\\0chaos-b-${b.uid}"))`],
        stdout: "piped",
      }).output();
      assert.match(new TextDecoder().decode(control.stdout), /connect ok/, "the check can fail");
    } finally {
      for (const c of children) {
        try {
          c.kill("SIGKILL");
        } catch { /* gone */ }
        await c.status;
      }
      for (const box of [b, a]) assert.deepEqual((await box.close()).survivors, []);
      await Deno.remove(tmp, { recursive: true });
    }
    await sleep(0);
    for (const box of [a, b]) assert.deepEqual(processesOf(box.uid), []);
    await assert.rejects(Deno.stat(join(a.dir, "listen")), Deno.errors.NotFound);
  },
});

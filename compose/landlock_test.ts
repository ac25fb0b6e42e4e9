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

Deno.test("listenPorts() lets setup bind nothing, a component its own ports only (never 0)", () => {
  assert.equal(listenPorts({ kind: "setup" }), "none");
  assert.equal(listenPorts({ kind: "none" }), "none");
  assert.equal(listenPorts({ kind: "pipeline", endpoints: [] }), "any");
  assert.equal(listenPorts({ kind: "pipeline", endpoints: [], listen: [29051] }), "29051");
  assert.equal(
    listenPorts({ kind: "pipeline", endpoints: [], listen: [29051, 29052] }),
    "29051,29052",
  );
  assert.equal(listenPorts({ kind: "pipeline", endpoints: [], listen: [] }), "none");
  assert.equal(listenPorts({ kind: "pipeline", endpoints: [], listen: [0] }), "none");
  assert.equal(listenPorts({ kind: "pipeline", endpoints: [], listen: [0, 29051] }), "29051");
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
attempt("listen-unbound", lambda: socket.socket().listen())
`;
      const out = await python(a, code).output();
      const text = new TextDecoder().decode(out.stdout);
      const msg = `${text}\n${new TextDecoder().decode(out.stderr)}`;
      const result = Object.fromEntries(
        text.trim().split("\n").map((l) => l.split(" ")).map((p) => [p[0], p[1]]),
      );
      for (const attack of ["connect-other-box", "connect-host", "bind-other", "bind-ephemeral"]) {
        assert.equal(result[attack], "blocked", `${attack}: ${msg}`);
      }
      for (const allowed of ["connect-own", "bind-given", "listen-unbound"]) {
        assert.equal(result[allowed], "ok", `${allowed}: ${msg}`);
      }
      // B was given no ports: any port of its choosing is refused, 0 too; setup's binds none
      // either; a pipeline policy without `listen` (the harness's own, unsandboxed use) binds any.
      const binds = `attempt("bind", lambda: bind(${own}))\nattempt("bind0", lambda: bind(0))`;
      const bOut = new TextDecoder().decode((await python(b, TRY + binds).output()).stdout);
      assert.match(bOut, /^bind blocked 13$/m);
      assert.match(bOut, /^bind0 blocked 13$/m);
      await b.network({ kind: "none" });
      const none = new TextDecoder().decode((await python(b, TRY + binds).output()).stdout);
      assert.match(none, /^bind blocked 13$/m);
      assert.match(none, /^bind0 blocked 13$/m);
      await b.network({ kind: "setup" });
      const setup = new TextDecoder().decode((await python(b, TRY + binds).output()).stdout);
      assert.match(setup, /^bind blocked 13$/m);
      assert.match(setup, /^bind0 blocked 13$/m);
      await b.network({ kind: "pipeline", endpoints: [] });
      const any = new TextDecoder().decode((await python(b, TRY + binds).output()).stdout);
      assert.match(any, /^bind ok$/m);
      assert.match(any, /^bind0 ok$/m);
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

/** MPTCP sockets work on this host outside a box (else that half of the control is skipped). */
function mptcpEnabled(): boolean {
  try {
    return Deno.readTextFileSync("/proc/sys/net/mptcp/enabled").trim() === "1";
  } catch {
    return false;
  }
}

/** io_uring works on this host outside a box (`kernel.io_uring_disabled` 0 or absent). */
function ioUringEnabled(): boolean {
  try {
    return Deno.readTextFileSync("/proc/sys/kernel/io_uring_disabled").trim() === "0";
  } catch {
    return true;
  }
}

/** The seccomp filter's attempts (TRY's format), for a box and for the host's control. */
const FILTERED = `
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
def mptcp_listen(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262)
    s.bind(("127.0.0.1", port)); s.listen()
def io_uring():
    params = (ctypes.c_char * 120)()
    fd = libc.syscall(425, 1, params)
    if fd < 0:
        e = ctypes.get_errno(); raise OSError(e, os.strerror(e))
    os.close(fd)
attempt("mptcp", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262))
attempt("mptcp6", lambda: socket.socket(socket.AF_INET6, socket.SOCK_STREAM | socket.SOCK_NONBLOCK, 262))
attempt("sctp", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM, 132))
attempt("sctp-default", lambda: socket.socket(socket.AF_INET6, socket.SOCK_SEQPACKET, 0))
attempt("socketpair-mptcp", lambda: socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM, 262))
attempt("io_uring", io_uring)
attempt("socketpair", lambda: socket.socketpair())
attempt("udp", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close())
`;

/** `name -> "ok" | "blocked <errno>"` from TRY's lines. */
function attempts(text: string): Record<string, string> {
  return Object.fromEntries(
    text.trim().split("\n").map((l) => l.split(" ")).map((p) => [p[0], p.slice(1).join(" ")]),
  );
}

Deno.test({
  name:
    "a box makes no MPTCP or SCTP socket and no io_uring (its attack on a port not given refused), binds no port 0, connects and listens where it may",
  ignore: why !== null,
  sanitizeResources: false,
  fn: async () => {
    const tmp = await Deno.makeTempDir({ prefix: "chaos-landlock-test-" });
    const box = await openSandbox({ source: tmp, bounds: { diskMb: 32, memoryMb: 256 } });
    // The box's endpoint (a service of the harness's), a port it may listen on, one it may not.
    const endpoint = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const accepted = (async () => {
      for await (const conn of endpoint) conn.close();
    })();
    const port = (endpoint.addr as Deno.NetAddr).port;
    const free = [0, 1].map(() => Deno.listen({ hostname: "127.0.0.1", port: 0 }));
    const [own, taken] = free.map((l) => (l.addr as Deno.NetAddr).port);
    for (const l of free) l.close();
    try {
      await box.network({ kind: "pipeline", endpoints: [`127.0.0.1:${port}`], listen: [own] });
      const code = TRY + FILTERED + `
def connect():
    s = socket.socket(); s.connect(("127.0.0.1", ${port})); s.close()
def listen(port):
    s = socket.socket(); s.bind(("127.0.0.1", port)); s.listen(); s.close()
attempt("mptcp-attack", lambda: mptcp_listen(${taken}))
attempt("tcp-attack", lambda: listen(${taken}))
attempt("bind0-connect", lambda: (lambda s: (s.bind(("127.0.0.1", 0)), s.connect(("127.0.0.1", ${port}))))(socket.socket()))
attempt("connect", connect)
attempt("listen-given", lambda: listen(${own}))
`;
      const out = await python(box, code).output();
      const text = new TextDecoder().decode(out.stdout);
      const msg = `${text}\n${new TextDecoder().decode(out.stderr)}`;
      const inBox = attempts(text);
      const EPROTONOSUPPORT = "blocked 93";
      for (
        const name of [
          "mptcp",
          "mptcp6",
          "sctp",
          "sctp-default",
          "socketpair-mptcp",
          "mptcp-attack",
        ]
      ) {
        assert.equal(inBox[name], EPROTONOSUPPORT, `${name}: ${msg}`);
      }
      assert.equal(inBox["io_uring"], "blocked 38", `io_uring (ENOSYS): ${msg}`);
      assert.equal(inBox["tcp-attack"], "blocked 13", `tcp-attack (EACCES): ${msg}`);
      assert.equal(inBox["bind0-connect"], "blocked 13", `bind(0) (EACCES): ${msg}`);
      for (const allowed of ["connect", "listen-given", "socketpair", "udp"]) {
        assert.equal(inBox[allowed], "ok", `${allowed}: ${msg}`);
      }
      // The control, outside every box: the kernel makes them (the refusals above are the filter's).
      const control = await new Deno.Command("python3", {
        args: ["-c", TRY + FILTERED + `attempt("mptcp-attack", lambda: mptcp_listen(${taken}))`],
        stdout: "piped",
      }).output();
      const host = attempts(new TextDecoder().decode(control.stdout));
      if (mptcpEnabled()) {
        for (const name of ["mptcp", "mptcp6", "mptcp-attack"]) {
          assert.equal(host[name], "ok", `${name} on the host: ${JSON.stringify(host)}`);
        }
      } else console.warn("compose/landlock_test.ts: no MPTCP on this host: its control skips");
      // No SCTP module here: the kernel's own answer to an inet SOCK_SEQPACKET is another errno.
      assert.notEqual(host["sctp-default"], EPROTONOSUPPORT, JSON.stringify(host));
      if (ioUringEnabled()) {
        assert.equal(host["io_uring"], "ok", JSON.stringify(host));
      }
    } finally {
      endpoint.close();
      await accepted.catch(() => {});
      assert.deepEqual((await box.close()).survivors, []);
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

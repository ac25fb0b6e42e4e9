import assert from "node:assert/strict";
import { join } from "node:path";
import { History } from "../validate/history.ts";
import { DEFAULT_BASE, openSandbox, processesOf, sandboxSupport } from "../compose/sandbox.ts";
import { diagSockets, parseDiag, socketDiagHelper } from "../compose/socket_diag.ts";
import { sleep } from "../lib/wait.ts";
import {
  addTableSockets,
  type GuardedBox,
  overBound,
  socketFinding,
  SocketGuard,
  socketInode,
} from "./socket_guard.ts";

/** A /proc/net/tcp text: the header, then one line per [uid, inode, state]. */
function tcpTable(rows: [number, number, string][]): string {
  const header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt" +
    "   uid  timeout inode\n";
  return header +
    rows.map(([uid, inode, st], i) =>
      `${String(i).padStart(4)}: 0100007F:7148 00000000:0000 ${st} 00000000:00000000 00:00000000 ` +
      `00000000 ${String(uid).padStart(5)}        0 ${inode} 1 0000000000000000 100 0 0 10 0\n`
    ).join("");
}

/** A /proc/net/tcp6 line's shape (longer addresses, same columns). */
const TCP6 = "  sl  local_address                         remote_address                        " +
  "st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
  "   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A " +
  "00000000:00000000 00:00000000 00000000 61234        0 555 1 0000000000000000 100 0 0 10 0\n";

Deno.test("addTableSockets() takes each socket of the given uids by inode, nothing else", () => {
  const out = new Map<number, Set<number>>();
  const uids = new Set([61234, 61235]);
  addTableSockets(
    tcpTable([[61234, 100, "0A"], [61234, 101, "01"], [0, 102, "0A"], [61235, 103, "01"]]),
    uids,
    out,
  );
  // A TIME_WAIT socket has inode 0 (no longer anyone's); the same socket twice counts once.
  addTableSockets(tcpTable([[61234, 0, "06"], [61234, 100, "0A"]]), uids, out);
  addTableSockets(TCP6, uids, out);
  assert.deepEqual([...out.get(61234)!].sort(), [100, 101, 555]);
  assert.deepEqual([...out.get(61235)!], [103]);
  assert.equal(out.has(0), false);
  // The header, a blank, garbage: nothing.
  const none = new Map<number, Set<number>>();
  addTableSockets("header only\n\n  garbage line 61234\n", uids, none);
  addTableSockets("", uids, none);
  assert.equal(none.size, 0);
});

Deno.test("socketInode() reads a socket descriptor's link, nothing else", () => {
  assert.equal(socketInode("socket:[123456]"), 123456);
  assert.equal(socketInode("pipe:[123456]"), undefined);
  assert.equal(socketInode("/tmp/socket:[1]"), undefined);
  assert.equal(socketInode("anon_inode:[eventpoll]"), undefined);
});

Deno.test("parseDiag() takes the socket helper's lines of the given uids, nothing else", () => {
  const out = parseDiag(
    "61234 100 7\n61234 101 10\n0 102 10\n61234 0 7\n\ngarbage\n61234 100 7\n",
    new Set([61234]),
  );
  assert.deepEqual([...out.get(61234)!], [100, 101]);
  assert.equal(out.size, 1);
});

Deno.test("overBound() allows the bound itself, one more is over; the finding says who, how many, the bound", () => {
  assert.equal(overBound(2048, 2048), false);
  assert.equal(overBound(2049, 2048), true);
  assert.equal(overBound(0, 16), false);
  const line = socketFinding("the sink's sandbox", 2400, 2048);
  assert.match(line, /^the sink's sandbox held 2400 sockets of the host \(bound 2048, /);
  assert.match(line, /CHAOS_SANDBOX_SOCKETS\): it was stopped/);
  assert.match(socketFinding("the pipeline's sandbox", 8192, 2048, true), /held at least 8192/);
});

/** A box of fixture tables: its uid, no process, a sweep that counts its calls. */
function fakeBox(uid: number, sockets: number, dir: string) {
  const swept: number[] = [];
  const cgroup = join(dir, String(uid));
  Deno.mkdirSync(cgroup);
  Deno.writeTextFileSync(join(cgroup, "cgroup.procs"), "");
  const box: GuardedBox["box"] = {
    uid,
    memoryCgroup: cgroup,
    bounds: { diskMb: 64, memoryMb: 64, sockets },
    sweep: () => {
      swept.push(Date.now());
      return Promise.resolve([]);
    },
  };
  return { box, swept };
}

Deno.test("SocketGuard stops the box over its bound and fails the run with the evidence; one under it stays", async () => {
  const dir = await Deno.makeTempDir({ prefix: "socket-guard-test-" });
  try {
    const history = new History(join(dir, "history.jsonl"));
    const rows: [number, number, string][] = [];
    for (let i = 0; i < 300; i++) rows.push([61300, 1000 + i, "0A"]);
    for (let i = 0; i < 50; i++) rows.push([61301, 5000 + i, "01"]);
    await Deno.writeTextFile(join(dir, "tcp"), tcpTable(rows));
    const hog = fakeBox(61300, 200, dir);
    const honest = fakeBox(61301, 200, dir);
    const guard = SocketGuard.manual({
      boxes: [{ name: "sink", box: hog.box }, { name: "detector", box: honest.box }],
      history,
      tables: [join(dir, "tcp"), join(dir, "missing-tcp6")],
      diag: null,
    });
    const counts = await guard.check();
    assert.deepEqual(counts.map((c) => [c.name, c.sockets, c.bound]), [
      ["sink", 300, 200],
      ["detector", 50, 200],
    ]);
    assert.equal(hog.swept.length, 1, "the box over its bound is stopped");
    assert.equal(honest.swept.length, 0, "the box under it is left alone");
    const finding = await guard.stop();
    assert.ok(finding);
    assert.match(finding, /^the sink's sandbox held 300 sockets of the host \(bound 200, /);
    assert.match(finding, /see logs\/sink\.log/);
    const event = history.events.find((e) => e.what === "socket-guard" && e.type === "fail");
    assert.deepEqual(
      (({ box, sockets, bound }) => ({ box, sockets, bound }))(
        event?.value as Record<string, unknown>,
      ),
      { box: "sink", sockets: 300, bound: 200 },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SocketGuard finds nothing when every box is within its bound, and without boxes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "socket-guard-test-" });
  try {
    const history = new History(join(dir, "history.jsonl"));
    await Deno.writeTextFile(join(dir, "tcp"), tcpTable([[61400, 1, "0A"], [61400, 2, "01"]]));
    const box = fakeBox(61400, 16, dir);
    const guard = SocketGuard.start({
      boxes: [{ name: "pipeline", box: box.box }],
      history,
      tables: [join(dir, "tcp")],
      diag: null,
      intervalMs: 10,
    });
    await sleep(50);
    assert.equal(await guard.stop(), undefined);
    assert.equal(box.swept.length, 0);
    assert.equal(await SocketGuard.start({ boxes: [], history }).stop(), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Binds `held` TCP sockets to port 0 without listening or connecting (no /proc/net/tcp line: a
 * descriptor shows them), one listening, and `inflight` more sent in flight over a unix socket
 * pair and closed (no descriptor either: only the kernel's sock_diag sees them); prints "bound".
 */
const BINDER = `
import socket, sys, time
held, inflight = int(sys.argv[1]), int(sys.argv[2])
def bound():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); return s
socks = [bound() for _ in range(held - 1)]
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1); socks.append(l)
a, b = socket.socketpair()
for _ in range(inflight // 100):
    batch = [bound() for _ in range(100)]
    socket.send_fds(a, [b"x"], [s.fileno() for s in batch])
    for s in batch: s.close()
print("bound", flush=True)
time.sleep(120)
`;

Deno.test({
  name:
    "a real box holding 350 sockets (200 with no descriptor) under a bound of 200 is stopped with the finding; one with 50 runs on",
  ignore: sandboxSupport() !== null,
  sanitizeResources: false,
  fn: async () => {
    const team = await Deno.makeTempDir({ prefix: "chaos-socket-guard-" });
    await Deno.writeTextFile(join(team, "binder.py"), BINDER);
    const bounds = { diskMb: 64, memoryMb: 512, sockets: 200 };
    const hog = await openSandbox({ source: team, bounds });
    const honest = await openSandbox({ source: team, bounds });
    const children: Deno.ChildProcess[] = [];
    try {
      const started: Promise<void>[] = [];
      for (const [box, held, inflight] of [[hog, 150, 200], [honest, 50, 0]] as const) {
        // A policy that lets it bind (a pipeline's without `listen`): a component's box may bind
        // no port, 0 neither, nor may setup's (landlock.ts), so they hold no bound-only socket;
        // the guard must still count those where they can exist.
        await box.network({ kind: "pipeline", endpoints: [] });
        const argv = box.wrap(["python3", "binder.py", String(held), String(inflight)]);
        const child = new Deno.Command(argv[0], {
          args: argv.slice(1),
          cwd: box.cwd,
          clearEnv: true,
          env: box.env(),
          stdout: "piped",
          stderr: "inherit",
        }).spawn();
        children.push(child);
        started.push((async () => {
          const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
          let seen = "";
          while (!seen.includes("bound")) {
            const { value, done } = await reader.read();
            if (done) throw new Error(`the box of uid ${box.uid} ended before binding: ${seen}`);
            seen += value;
          }
          reader.releaseLock();
        })());
      }
      await Promise.all(started);
      const history = new History(join(team, "history.jsonl"));
      // From /proc/net and descriptors alone the sockets in flight are not seen: under the bound.
      const blind = SocketGuard.manual({
        boxes: [{
          name: "sink",
          box: {
            uid: hog.uid,
            memoryCgroup: hog.memoryCgroup,
            sweep: () => Promise.reject(new Error("not to be stopped")),
            bounds: { ...bounds, sockets: 10_000 },
          },
        }],
        history,
        diag: null,
      });
      const [seen] = await blind.check();
      assert.ok(seen.sockets >= 150 && seen.sockets < 200, `from /proc and fds: ${seen.sockets}`);
      // The kernel's sock_diag sees every one of them.
      const helper = await socketDiagHelper(DEFAULT_BASE);
      assert.ok("path" in helper, JSON.stringify(helper));
      const diag = await diagSockets(helper.path, [hog.uid, honest.uid]);
      assert.ok(diag.get(hog.uid)!.size >= 350, `sock_diag: ${diag.get(hog.uid)?.size}`);
      const guard = SocketGuard.manual({
        boxes: [{ name: "sink", box: hog }, { name: "detector", box: honest }],
        history,
      });
      const counts = await guard.check();
      const hogCount = counts.find((c) => c.name === "sink")!;
      const honestCount = counts.find((c) => c.name === "detector")!;
      assert.ok(hogCount.sockets >= 350, `the hog's count: ${hogCount.sockets}`);
      assert.ok(
        honestCount.sockets >= 50 && honestCount.sockets < 200,
        `the honest box's: ${honestCount.sockets}`,
      );
      const finding = await guard.stop();
      assert.match(finding ?? "", /^the sink's sandbox held \d+ sockets of the host \(bound 200/);
      assert.deepEqual(processesOf(hog.uid), [], "the hog's processes are gone");
      assert.ok(processesOf(honest.uid).length > 0, "the honest box runs on");
      assert.equal((await children[0].status).success, false);
      // Its ports are the host's again: the kernel holds none of its sockets.
      const after = await diagSockets(helper.path, [hog.uid]);
      assert.ok((after.get(hog.uid)?.size ?? 0) < 10, `left: ${after.get(hog.uid)?.size}`);
    } finally {
      await honest.close();
      await hog.close();
      for (const c of children) await c.status.catch(() => {});
      await Deno.remove(team, { recursive: true });
    }
  },
});

/**
 * Lazy file systems: the pure parts (host checks, events, source hash), then
 * the real layer (root, /dev/fuse and Go to build it): after a power loss only
 * what was fsynced is there, with the rules of the module doc for names
 * (create, rename, unlink, mkdir), fdatasync, folder fsync, truncates and
 * overwrites, many files, a writer left holding files, and a clean unmount
 * that keeps everything.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  countsSince,
  ensureLazyfs,
  faultsCommand,
  fuseProblem,
  isSourceFile,
  lazyfsProblem,
  type LazyMount,
  mountLazy,
  mountType,
  parseEvent,
  sourceHash,
  totalOf,
} from "./lazyfs.ts";

const enc = new TextEncoder();
const bytes = (text: string) => enc.encode(text);

Deno.test("lazyfs: which hosts can mount it", () => {
  const filesystems = "nodev\tsysfs\nnodev\tfuse\n\tfuseblk\n";
  const ok = { os: "linux", uid: 0, devFuse: true, filesystems };
  assert.equal(fuseProblem(ok), undefined);
  assert.match(fuseProblem({ ...ok, os: "darwin" })!, /need Linux/);
  assert.match(fuseProblem({ ...ok, uid: 1000 })!, /need root.*uid 1000/);
  assert.match(fuseProblem({ ...ok, devFuse: false })!, /\/dev\/fuse is missing/);
  assert.match(fuseProblem({ ...ok, filesystems: "\tfuseblk\n" })!, /no FUSE.*modprobe fuse/);
});

Deno.test("lazyfs: events are parsed, broken ones refused", () => {
  assert.deepEqual(parseEvent('{"event":"mounted","pid":7,"mount":"/m"}'), {
    event: "mounted",
    pid: 7,
  });
  const zero = '{"read":0,"write":0,"fsync":0,"meta":0}';
  assert.deepEqual(
    parseEvent(
      '{"event":"status","unsynced_files":2,"unsynced_bytes":9,' +
        '"faults":{"delay_ms":{"write":200},"jitter_ms":5,"error_share":{}},' +
        `"delayed":{"read":0,"write":3,"fsync":0,"meta":0},"failed":${zero}}`,
    ),
    {
      event: "status",
      status: {
        unsyncedFiles: 2,
        unsyncedBytes: 9,
        faults: { delayMs: { write: 200 }, jitterMs: 5 },
        delayed: { read: 0, write: 3, fsync: 0, meta: 0 },
        failed: { read: 0, write: 0, fsync: 0, meta: 0 },
      },
    },
  );
  assert.deepEqual(parseEvent('{"event":"faults","faults":{"error_share":{"read":0.5}}}'), {
    event: "faults",
    faults: { errorShare: { read: 0.5 } },
  });
  assert.deepEqual(parseEvent('{"event":"error","message":"no"}'), {
    event: "error",
    message: "no",
  });
  assert.throws(
    () =>
      parseEvent(
        `{"event":"status","unsynced_files":2,"unsynced_bytes":9,"faults":{},"failed":${zero}}`,
      ),
    /without delayed counts/,
  );
  assert.throws(
    () => parseEvent('{"event":"faults","faults":{"delay_ms":{"writes":1}}}'),
    /bad delay_ms\.writes/,
  );
  const loss = parseEvent(
    '{"event":"power_loss","files_reverted":1,"bytes_dropped":3000,"pages_restored":0,' +
      '"files_deleted":2,"files_restored":3,"durable_entries":4,"missing":0,"ms":5}',
  );
  assert.equal(loss?.event === "power_loss" && loss.report.bytesDropped, 3000);
  assert.equal(parseEvent('{"event":"later"}'), undefined);
  assert.throws(() => parseEvent("panic: oops"), /not JSON/);
  assert.throws(() => parseEvent('{"event":"power_loss","files_reverted":1}'), /bytes_dropped/);
});

Deno.test("lazyfs: IO fault commands and counts", () => {
  assert.equal(faultsCommand({}), '{"cmd":"faults"}');
  assert.deepEqual(
    JSON.parse(faultsCommand({ delayMs: { write: 200 }, jitterMs: 20, errorShare: { all: 1 } })),
    { cmd: "faults", delay_ms: { write: 200 }, jitter_ms: 20, error_share: { all: 1 } },
  );
  const before = { read: 1, write: 10, fsync: 2, meta: 0 };
  const after = { read: 1, write: 15, fsync: 1, meta: 4 };
  assert.deepEqual(countsSince(before, after), { read: 0, write: 5, fsync: 1, meta: 4 });
  assert.equal(totalOf(after), 21);
  assert.equal(totalOf(after, ["write", "fsync"]), 16);
});

Deno.test("lazyfs: the build is named by its sources", async () => {
  assert.ok(isSourceFile("main.go") && isSourceFile("go.sum") && isSourceFile("go.mod"));
  assert.ok(!isSourceFile("main_test.go") && !isSourceFile("README.md"));
  const a = await sourceHash([["a.go", bytes("x")], ["b.go", bytes("y")]]);
  assert.equal(a, await sourceHash([["b.go", bytes("y")], ["a.go", bytes("x")]]));
  assert.notEqual(a, await sourceHash([["a.go", bytes("x")], ["b.go", bytes("z")]]));
  assert.notEqual(a, await sourceHash([["a.gox", bytes("")], ["b.go", bytes("y")]]));
  assert.match(a, /^[0-9a-f]{12}$/);
});

Deno.test("lazyfs: the type of the mount on top at a path", () => {
  const info = [
    "30 1 0:27 / /data rw - tmpfs chaos-disk rw",
    "31 30 0:28 / /data/log rw - fuse.lazyfs /data/log.backing rw",
    "32 1 0:29 / /data/log\\040x rw - tmpfs t rw",
  ].join("\n");
  assert.equal(mountType("/data/log", info), "fuse.lazyfs");
  assert.equal(mountType("/data", info), "tmpfs");
  assert.equal(mountType("/data/log x", info), "tmpfs");
  assert.equal(mountType("/other", info), undefined);
});

// ---------------------------------------------------------------- the real layer

async function write(path: string, data: string, sync?: "fsync" | "fdatasync"): Promise<void> {
  const file = await Deno.open(path, { write: true, create: true, append: true });
  try {
    await file.write(bytes(data));
    if (sync === "fsync") await file.sync();
    if (sync === "fdatasync") await file.syncData();
  } finally {
    file.close();
  }
}

async function fsync(path: string): Promise<void> {
  const file = await Deno.open(path, { read: true });
  try {
    await file.sync();
  } finally {
    file.close();
  }
}

const read = (path: string) => Deno.readTextFile(path).catch(() => undefined);

async function list(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

/** A fresh backing folder with `seed` files (durable: they were there at mount), mounted. */
async function lazyDir(seed: Record<string, string> = {}) {
  const dir = await Deno.makeTempDir({ prefix: "lazyfs-test-" });
  const backing = join(dir, "backing");
  const mnt = join(dir, "mnt");
  await Deno.mkdir(backing);
  for (const [name, text] of Object.entries(seed)) {
    await Deno.writeTextFile(join(backing, name), text);
  }
  const lazy = await mountLazy(backing, mnt);
  return {
    lazy,
    mnt,
    backing,
    async [Symbol.asyncDispose]() {
      await lazy.unmount();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const python = ["/usr/bin/python3", "/usr/local/bin/python3"].find((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
});

const fuse = {
  ignore: lazyfsProblem() !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
};

Deno.test({ name: "lazyfs: only what was fsynced survives a power loss", ...fuse }, async (t) => {
  await t.step("a file fsynced in part keeps that part", async () => {
    await using d = await lazyDir();
    const seg = join(d.mnt, "00000.log");
    await write(seg, "A".repeat(5000), "fsync");
    await write(seg, "B".repeat(3000));
    assert.equal((await Deno.stat(seg)).size, 8000, "reads see the unsynced writes");
    const status = await d.lazy.status();
    assert.deepEqual([status.unsyncedFiles, status.unsyncedBytes], [1, 3000]);
    assert.equal(totalOf(status.delayed) + totalOf(status.failed), 0, "no faults, none counted");
    const report = await d.lazy.powerLoss();
    assert.equal(report.bytesDropped, 3000);
    assert.equal(report.missing, 0);
    assert.equal(await read(seg), "A".repeat(5000));
    await write(seg, "C", "fsync");
    assert.equal((await Deno.stat(seg)).size, 5001, "the new mount writes on");
  });

  await t.step("fdatasync counts like fsync", async () => {
    await using d = await lazyDir();
    await write(join(d.mnt, "f"), "synced", "fdatasync");
    await write(join(d.mnt, "f"), "+lost");
    await d.lazy.powerLoss();
    assert.equal(await read(join(d.mnt, "f")), "synced");
  });

  await t.step("a file created and never fsynced, nor its folder, is gone", async () => {
    await using d = await lazyDir({ old: "durable" });
    await write(join(d.mnt, "new"), "never synced");
    await Deno.mkdir(join(d.mnt, "sub"));
    await write(join(d.mnt, "sub", "x"), "never synced");
    const report = await d.lazy.powerLoss();
    assert.deepEqual(await list(d.mnt), ["old"]);
    assert.equal(report.filesDeleted, 2);
    const left = (await list(d.backing)).filter((n) => n !== ".lazyfs"); // the new mount's stage
    assert.deepEqual(left, ["old"], "nothing left in the backing folder");
  });

  await t.step("a folder fsync makes names durable, not bytes", async () => {
    await using d = await lazyDir();
    await write(join(d.mnt, "named"), "bytes never synced");
    await fsync(d.mnt);
    await d.lazy.powerLoss();
    assert.deepEqual(await list(d.mnt), ["named"]);
    assert.equal(await read(join(d.mnt, "named")), "");
  });

  await t.step("fsync of a file makes its path durable", async () => {
    await using d = await lazyDir();
    await Deno.mkdir(join(d.mnt, "topic-0"));
    await write(join(d.mnt, "topic-0", "0.log"), "record", "fsync");
    await Deno.mkdir(join(d.mnt, "topic-1"));
    await d.lazy.powerLoss();
    assert.deepEqual(await list(d.mnt), ["topic-0"]);
    assert.equal(await read(join(d.mnt, "topic-0", "0.log")), "record");
  });

  await t.step("a checkpoint: rename undone without a folder fsync, kept with one", async () => {
    await using d = await lazyDir({ checkpoint: "v1" });
    const [tmp, cp] = [join(d.mnt, "checkpoint.tmp"), join(d.mnt, "checkpoint")];
    await write(tmp, "v2", "fsync");
    await Deno.rename(tmp, cp);
    assert.equal(await read(cp), "v2");
    await d.lazy.powerLoss();
    assert.equal(await read(cp), "v1", "the rename was not durable");
    assert.equal(await read(tmp), "v2", "the fsynced temp file is still there");

    await Deno.rename(tmp, cp);
    await fsync(d.mnt);
    await d.lazy.powerLoss();
    assert.deepEqual(await list(d.mnt), ["checkpoint"]);
    assert.equal(await read(cp), "v2");
  });

  await t.step("the fsync of a subfolder counts (a partition's checkpoints)", async () => {
    await using d = await lazyDir();
    const part = join(d.mnt, "topic-0");
    await Deno.mkdir(part);
    await write(join(part, "leader-epoch-checkpoint"), "v1", "fsync");
    await write(join(part, "leader-epoch-checkpoint.tmp"), "v2", "fsync");
    await Deno.rename(
      join(part, "leader-epoch-checkpoint.tmp"),
      join(part, "leader-epoch-checkpoint"),
    );
    await fsync(part);
    await d.lazy.powerLoss();
    assert.deepEqual(await list(part), ["leader-epoch-checkpoint"]);
    assert.equal(await read(join(part, "leader-epoch-checkpoint")), "v2");
  });

  await t.step("an unlink is undone unless its folder was fsynced", async () => {
    await using d = await lazyDir({ a: "kept a", b: "kept b" });
    await write(join(d.mnt, "a"), " and more");
    await Deno.remove(join(d.mnt, "a"));
    await Deno.remove(join(d.mnt, "b"));
    await fsync(d.mnt);
    await d.lazy.powerLoss();
    assert.deepEqual(await list(d.mnt), []);

    await write(join(d.mnt, "c"), "c", "fsync");
    await Deno.remove(join(d.mnt, "c"));
    await d.lazy.powerLoss();
    assert.equal(await read(join(d.mnt, "c")), "c", "unlinked, folder not fsynced: back");
  });

  await t.step("truncates and overwrites of durable bytes are undone", async () => {
    const durable = "0123456789".repeat(1000); // 10,000 bytes: three pages
    await using d = await lazyDir({ index: durable, trunc: durable });
    const index = await Deno.open(join(d.mnt, "index"), { read: true, write: true });
    await index.seek(4090, Deno.SeekMode.Start);
    await index.write(bytes("XXXXXXXXXXXX")); // across the first page boundary
    index.close();
    await Deno.truncate(join(d.mnt, "trunc"), 100);
    await write(join(d.mnt, "trunc"), "tail");
    assert.equal((await read(join(d.mnt, "trunc")))!.length, 104);
    const report = await d.lazy.powerLoss();
    assert.equal(await read(join(d.mnt, "index")), durable);
    assert.equal(await read(join(d.mnt, "trunc")), durable);
    assert.ok(report.pagesRestored >= 4, `${report.pagesRestored} pages restored`);

    await Deno.truncate(join(d.mnt, "trunc"), 100);
    await fsync(join(d.mnt, "trunc"));
    await d.lazy.powerLoss();
    assert.equal(await read(join(d.mnt, "trunc")), durable.slice(0, 100));
  });

  await t.step("folders removed or renamed come back unless their parent was fsynced", async () => {
    await using d = await lazyDir();
    await Deno.mkdir(join(d.mnt, "topic-0"));
    await write(join(d.mnt, "topic-0", "0.log"), "records", "fsync");
    await Deno.rename(join(d.mnt, "topic-0"), join(d.mnt, "topic-0.delete"));
    await Deno.remove(join(d.mnt, "topic-0.delete"), { recursive: true });
    await Deno.mkdir(join(d.mnt, "other"));
    await write(join(d.mnt, "other", "x"), "x"); // reuses inodes on most file systems
    await fsync(join(d.mnt, "other", "x"));
    await d.lazy.powerLoss();
    assert.deepEqual(await list(d.mnt), ["other", "topic-0"]);
    assert.equal(await read(join(d.mnt, "topic-0", "0.log")), "records");

    await Deno.rename(join(d.mnt, "topic-0"), join(d.mnt, "topic-0.delete"));
    await fsync(d.mnt);
    await Deno.remove(join(d.mnt, "topic-0.delete"), { recursive: true });
    await d.lazy.powerLoss();
    assert.deepEqual(await list(d.mnt), ["other", "topic-0.delete"], "the rename was durable");
    assert.deepEqual(await list(join(d.mnt, "topic-0.delete")), ["0.log"]);
  });

  await t.step({
    name: "writes through a shared mmap count as writes (Kafka's indexes)",
    ignore: !python,
    fn: async () => {
      await using d = await lazyDir({ index: "\0".repeat(8192) });
      const script = [
        "import mmap, os, sys",
        "fd = os.open(sys.argv[1], os.O_RDWR)",
        "m = mmap.mmap(fd, 8192)",
        'm[0:6] = b"synced"',
        "m.flush()",
        'm[4096:4100] = b"lost"',
        "m.close()",
        "os.close(fd)",
      ].join("\n");
      const out = await new Deno.Command(python!, {
        args: ["-c", script, join(d.mnt, "index")],
      }).output();
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
      assert.equal((await read(join(d.mnt, "index")))!.slice(4096, 4100), "lost");
      await d.lazy.powerLoss();
      const text = (await read(join(d.mnt, "index")))!;
      assert.equal(text.slice(0, 6), "synced");
      assert.equal(text.slice(4096, 4100), "\0\0\0\0", "written back at munmap, never synced");
    },
  });

  await t.step("folders come back with their mode and owner", async () => {
    await using d = await lazyDir();
    await Deno.mkdir(join(d.mnt, "private"), { mode: 0o700 });
    await Deno.chown(join(d.mnt, "private"), 1000, 1000);
    await write(join(d.mnt, "private", "f"), "f", "fsync");
    await Deno.remove(join(d.mnt, "private", "f"));
    await Deno.remove(join(d.mnt, "private"));
    await d.lazy.powerLoss();
    const info = await Deno.stat(join(d.mnt, "private"));
    assert.equal(info.mode! & 0o7777, 0o700);
    assert.deepEqual([info.uid, info.gid], [1000, 1000]);
    assert.equal(await read(join(d.mnt, "private", "f")), "f");
  });

  await t.step("fsync of a file unlinked while open succeeds", async () => {
    await using d = await lazyDir();
    const file = await Deno.open(join(d.mnt, "doomed"), { write: true, create: true });
    await file.write(bytes("bytes"));
    await Deno.remove(join(d.mnt, "doomed"));
    await file.sync();
    file.close();
    await d.lazy.powerLoss();
    assert.deepEqual(await list(d.mnt), []);
  });

  await t.step("a preallocated index, written, synced, trimmed: the trim is undone", async () => {
    await using d = await lazyDir();
    const path = join(d.mnt, "00000.index");
    const index = await Deno.open(path, { read: true, write: true, create: true });
    await index.truncate(10 * 1024 * 1024); // Kafka preallocates 10 MiB of zeros
    await index.write(bytes("entry-1 entry-2 "));
    await index.sync();
    await index.truncate(16); // and trims it to the entries when the segment rolls
    index.close();
    await d.lazy.powerLoss();
    const back = await Deno.readFile(path);
    assert.equal(back.length, 10 * 1024 * 1024);
    assert.equal(new TextDecoder().decode(back.subarray(0, 16)), "entry-1 entry-2 ");
    assert.ok(back.subarray(16).every((b) => b === 0));
  });

  await t.step("O_TRUNC is a truncate like the others", async () => {
    await using d = await lazyDir({ f: "durable" });
    await Deno.writeTextFile(join(d.mnt, "f"), "rewritten, never synced");
    await d.lazy.powerLoss();
    assert.equal(await read(join(d.mnt, "f")), "durable");
  });

  await t.step("many files: the fsynced ones, and only them", async () => {
    await using d = await lazyDir();
    await Deno.mkdir(join(d.mnt, "log"));
    await fsync(d.mnt);
    for (let i = 0; i < 200; i++) {
      await write(
        join(d.mnt, "log", `f${i}`),
        `file ${i} `.repeat(i + 1),
        i % 2 ? undefined : "fsync",
      );
      await write(join(d.mnt, "log", `f${i}`), "unsynced tail");
    }
    await d.lazy.powerLoss();
    const names = await list(join(d.mnt, "log"));
    assert.equal(names.length, 100);
    for (let i = 0; i < 200; i += 2) {
      assert.equal(await read(join(d.mnt, "log", `f${i}`)), `file ${i} `.repeat(i + 1));
    }
  });

  await t.step("concurrent writers: each file keeps exactly its last fsynced length", async () => {
    await using d = await lazyDir();
    const chunk = new Uint8Array(1024).fill(120);
    const synced = await Promise.all(Array.from({ length: 8 }, async (_, w) => {
      const file = await Deno.open(join(d.mnt, `w${w}`), { write: true, create: true });
      let last = 0;
      for (let i = 1; i <= 300; i++) {
        await file.write(chunk);
        if (i % (20 + w) === 0) {
          await file.syncData();
          last = i * chunk.length;
        }
      }
      file.close();
      return last;
    }));
    await fsync(d.mnt);
    await d.lazy.powerLoss();
    for (const [w, size] of synced.entries()) {
      assert.equal((await Deno.stat(join(d.mnt, `w${w}`))).size, size, `writer ${w}`);
    }
  });

  await t.step("a writer still holding a file gets errors, never the old data", async () => {
    await using d = await lazyDir();
    const held = await Deno.open(join(d.mnt, "held"), { write: true, create: true, read: true });
    await held.write(bytes("synced"));
    await held.sync();
    await held.write(bytes(" lost"));
    await d.lazy.powerLoss();
    await assert.rejects(() => held.write(bytes(" after the power loss")));
    await assert.rejects(() => held.sync());
    try {
      held.close();
    } catch { /* the old mount is gone */ }
    assert.equal(await read(join(d.mnt, "held")), "synced");
  });

  await t.step("a clean unmount keeps every write", async () => {
    await using d = await lazyDir();
    await write(join(d.mnt, "unsynced"), "kept anyway");
    await d.lazy.unmount();
    assert.equal(d.lazy.mounted, false);
    assert.equal(mountType(d.mnt, await Deno.readTextFile("/proc/self/mountinfo")), undefined);
    assert.deepEqual(await list(d.backing), ["unsynced"], "no stage folder left");
    assert.equal(await read(join(d.backing, "unsynced")), "kept anyway");
  });
});

Deno.test({ name: "lazyfs: injected IO faults", ...fuse }, async (t) => {
  const timed = async (f: () => Promise<unknown>) => {
    const start = performance.now();
    await f();
    return performance.now() - start;
  };

  await t.step(
    "a write under 200 ms write latency takes 200 ms; a read is not delayed",
    async () => {
      await using d = await lazyDir({ data: "durable bytes" });
      assert.deepEqual(await d.lazy.setIoFaults({ delayMs: { write: 200 } }), {
        delayMs: { write: 200 },
      });
      const file = await Deno.open(join(d.mnt, "seg"), { write: true, create: true });
      const ms = await timed(() => file.write(bytes("x".repeat(1000))));
      file.close();
      assert.ok(ms >= 195, `the write took ${ms.toFixed(1)} ms`); // timers round to the ms
      const before = await d.lazy.status();
      assert.ok(before.delayed.write >= 1, `${before.delayed.write} writes delayed`);
      assert.deepEqual(before.faults, { delayMs: { write: 200 } });
      assert.equal(await read(join(d.mnt, "data")), "durable bytes");
      const after = await d.lazy.status();
      const since = countsSince(before.delayed, after.delayed);
      assert.deepEqual(since, { read: 0, write: 0, fsync: 0, meta: 0 }, "the read was not delayed");
      assert.equal(totalOf(after.failed), 0);
    },
  );

  await t.step("fsync latency delays the fsync, not the write", async () => {
    await using d = await lazyDir();
    await d.lazy.setIoFaults({ delayMs: { fsync: 150 } });
    const file = await Deno.open(join(d.mnt, "f"), { write: true, create: true });
    await file.write(bytes("data"));
    const ms = await timed(() => file.sync());
    file.close();
    assert.ok(ms >= 145, `the fsync took ${ms.toFixed(1)} ms`);
    const status = await d.lazy.status();
    assert.equal(status.delayed.write, 0);
    assert.ok(status.delayed.fsync >= 1);
  });

  await t.step("EIO on every write fails each write and counts it; clear heals", async () => {
    await using d = await lazyDir({ data: "durable" });
    await d.lazy.setIoFaults({ errorShare: { write: 1 } });
    const file = await Deno.open(join(d.mnt, "seg"), { write: true, create: true });
    for (let i = 0; i < 5; i++) {
      await assert.rejects(
        () => file.write(bytes(`record ${i}`)),
        /Input\/output error|os error 5/,
      );
    }
    const status = await d.lazy.status();
    assert.equal(status.failed.write, 5, "every write failed and was counted");
    assert.equal(status.failed.read + status.failed.meta + status.failed.fsync, 0);
    assert.equal(await read(join(d.mnt, "data")), "durable", "reads still work");

    await d.lazy.clearIoFaults();
    assert.equal(await file.write(bytes("after")), 5);
    file.close();
    assert.equal(await read(join(d.mnt, "seg")), "after");
    const cleared = await d.lazy.status();
    assert.deepEqual(cleared.faults, {});
    assert.equal(cleared.failed.write, 5, "nothing more failed; the counters stay");
  });

  await t.step("a share of writes fails, about that share", async () => {
    await using d = await lazyDir();
    await d.lazy.setIoFaults({ errorShare: { write: 0.5 } });
    const file = await Deno.open(join(d.mnt, "seg"), { write: true, create: true });
    let failed = 0;
    for (let i = 0; i < 200; i++) await file.write(bytes("r")).catch(() => failed++);
    file.close();
    assert.equal((await d.lazy.status()).failed.write, failed);
    assert.ok(failed > 50 && failed < 150, `${failed} of 200 writes failed`); // p < 1e-12
  });

  await t.step("the whole mount failing fails reads, listings and new files too", async () => {
    await using d = await lazyDir({ data: "durable" });
    await d.lazy.setIoFaults({ errorShare: { all: 1 } });
    await assert.rejects(() => Deno.readTextFile(join(d.mnt, "data")));
    await assert.rejects(() => Deno.writeTextFile(join(d.mnt, "new"), "x"));
    await assert.rejects(() => list(d.mnt));
    const status = await d.lazy.status();
    assert.ok(totalOf(status.failed) >= 3, JSON.stringify(status.failed));
    assert.deepEqual(status.faults.errorShare, { read: 1, write: 1, fsync: 1, meta: 1 });

    await d.lazy.clearIoFaults();
    assert.equal(await read(join(d.mnt, "data")), "durable");
    await Deno.writeTextFile(join(d.mnt, "new"), "x");
    assert.deepEqual(await list(d.mnt), ["data", "new"]);
  });

  await t.step("a fault the layer refuses is an error and changes nothing", async () => {
    await using d = await lazyDir();
    await d.lazy.setIoFaults({ delayMs: { read: 10 } });
    await assert.rejects(
      () => d.lazy.setIoFaults({ errorShare: { write: 2 } }),
      /error_share\.write 2 is not within 0\.\.1/,
    );
    await assert.rejects(
      () => d.lazy.setIoFaults({ delayMs: { writes: 1 } as never }),
      /unknown kind of operation "writes"/,
    );
    assert.deepEqual((await d.lazy.status()).faults, { delayMs: { read: 10 } });
  });

  await t.step("power loss still works after faults were set, and ends them", async () => {
    await using d = await lazyDir();
    await write(join(d.mnt, "f"), "synced", "fsync");
    await d.lazy.setIoFaults({ delayMs: { write: 50 }, errorShare: { fsync: 1 } });
    await write(join(d.mnt, "f"), " lost");
    await assert.rejects(() => fsync(join(d.mnt, "f")));
    const report = await d.lazy.powerLoss();
    assert.equal(report.bytesDropped, 5);
    assert.equal(await read(join(d.mnt, "f")), "synced");
    const status = await d.lazy.status();
    assert.deepEqual(status.faults, {}, "a new layer starts with no faults");
    await write(join(d.mnt, "f"), "+", "fsync");
    assert.equal(await read(join(d.mnt, "f")), "synced+");
  });
});

Deno.test({ name: "lazyfs: the stage folder is hidden", ...fuse }, async () => {
  await using d = await lazyDir({ a: "a" });
  assert.deepEqual(await list(d.mnt), ["a"]);
  await assert.rejects(() => Deno.stat(join(d.mnt, ".lazyfs")), Deno.errors.NotFound);
  assert.ok((await list(d.backing)).includes(".lazyfs"));
});

export type { LazyMount };

Deno.test(
  { name: "lazyfs: the harness dying unmounts; a dead layer is cleared", ...fuse },
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "lazyfs-test-" });
    const [backing, mnt] = [join(dir, "backing"), join(dir, "mnt")];
    await Deno.mkdir(backing);
    await Deno.mkdir(mnt);
    const mounted = () => Deno.readTextFile("/proc/self/mountinfo").then((t) => mountType(mnt, t));
    const spawn = async () => {
      const child = new Deno.Command(await ensureLazyfs(), {
        args: ["-backing", backing, "-mount", mnt, "-watch-stdin"],
        stdin: "piped",
        stdout: "piped",
        stderr: "null",
      }).spawn();
      const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      assert.match((await lines.read()).value ?? "", /"event":"mounted"/);
      return { child, lines };
    };
    try {
      const first = await spawn();
      await Deno.writeTextFile(join(mnt, "f"), "written, never synced");
      await first.child.stdin.close(); // what the harness's death does
      assert.match((await first.lines.read()).value ?? "", /"event":"unmounted"/);
      assert.equal((await first.child.status).code, 0);
      await first.lines.cancel();
      assert.equal(await mounted(), undefined);
      assert.equal(await Deno.readTextFile(join(backing, "f")), "written, never synced");

      const second = await spawn();
      second.child.kill("SIGKILL");
      await second.child.status;
      await second.lines.cancel();
      await second.child.stdin.close().catch(() => {});
      assert.equal(await mounted(), "fuse.lazyfs", "a dead mount is left");
      const lazy = await mountLazy(backing, mnt);
      assert.equal(await Deno.readTextFile(join(mnt, "f")), "written, never synced");
      await lazy.unmount();
      assert.equal(await mounted(), undefined);
    } finally {
      await new Deno.Command("umount", { args: ["-l", mnt], stderr: "null" }).output();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

/**
 * The start script of a sandbox's command (compose/sandbox.ts): run as root inside the box's
 * new mount namespace, it joins the box's memory cgroup, covers what the box must not see,
 * shows its binds, makes every mount read-only but its writable folders, closes inherited
 * descriptors, bounds its processes and drops to the box's uid (in its Landlock domain, when it
 * has one), with `PID1` as the pid namespace's init. Pure: `mountScript` builds the text.
 *
 * ```ts
 * import { mountScript } from "./sandbox_mounts.ts";
 * const script = mountScript({
 *   hide: ["/root"],
 *   binds: [{ src: "/b/61234/work", dst: "/srv/team", rw: true }],
 *   stage: "/b/61234/stage",
 *   cwd: "/srv/team",
 *   uid: 61234,
 * }); // bash -c script chaos-sandbox-init cmd...
 * ```
 * @module
 */

import { dirname, isAbsolute, join, relative, resolve } from "node:path";

/** How many processes and threads a box's uid may have at once (RLIMIT_NPROC). */
export const MAX_PROCESSES = 4096;

/** One bind mount of the sandbox: `src` shown at `dst`, read-only unless `rw`. */
export interface Bind {
  src: string;
  dst: string;
  rw?: boolean;
}

/** What the mount namespace's start script does (see `mountScript`). */
export interface MountPlan {
  /** Folders (or files) covered by an empty read-only tmpfs (or /dev/null). */
  hide: string[];
  /** Binds, shown through hidden folders where they lie under one. */
  binds: Bind[];
  /** A root-only empty folder to build the hidden folders' replacements in. */
  stage: string;
  /** The folder the command starts in. */
  cwd: string;
  uid: number;
  /** The box's memory cgroup, joined first (sandbox_bounds.ts). Default: none. */
  memoryCgroup?: string;
  /**
   * The Landlock helper (landlock.ts) and the file of the ports the box may bind: the command
   * runs in a Landlock domain of its own. Default: none.
   */
  landlock?: { helper: string; ports: string };
}

/** `'…'` quoting for a POSIX shell. */
export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** True when `path` is `dir` or lies under it. */
export function isUnder(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

/**
 * The pid 1 of the sandbox's pid namespace, run as the uid: it runs the command as its child and
 * passes on the signals a fault sends (a namespace's init only gets signals it handles, so the
 * command itself must not be pid 1), and exits with the command's code; the kernel then kills
 * whatever the command left in the namespace (`setsid -f` daemons included).
 */
export const PID1 = [
  '"$@" & c=$!',
  'for s in TERM INT HUP USR1 USR2 QUIT; do trap "kill -$s $c 2>/dev/null" $s; done',
  'while :; do wait "$c"; r=$?; kill -0 "$c" 2>/dev/null || exit "$r"; done',
].join("\n");

/**
 * The script run as root inside the new mount namespace before it drops to the uid: the box's
 * memory cgroup joined and its OOM score at the top (given `memoryCgroup`), mounts private, hidden folders covered (binds under them staged in a tmpfs that is then moved in
 * place), the other binds, every mount read-only but the writable binds and /proc, a private
 * /dev/shm, every inherited descriptor above 2 closed, then `setpriv` to the uid without any
 * capability, in a Landlock domain of its own (given `landlock`), and PID1. Pure, for the tests.
 */
export function mountScript(plan: MountPlan): string {
  const q = shellQuote;
  const lines = ["set -e"];
  // Into the box's memory cgroup before anything else (its start script included), and the
  // host's OOM killer's first choice: the box cannot lower it (no CAP_SYS_RESOURCE).
  if (plan.memoryCgroup) lines.push(`echo $$ >${q(join(plan.memoryCgroup, "cgroup.procs"))}`);
  lines.push("echo 1000 >/proc/self/oom_score_adj", "mount --make-rprivate /");
  const binds = [...plan.binds].sort((a, b) => a.dst.length - b.dst.length);
  const hides = [...new Set(plan.hide.map((h) => resolve(h)))]
    .filter((h) => h !== "/")
    .sort((a, b) => a.length - b.length);
  const coveredBy = (p: string, hs: string[]) => hs.find((h) => isUnder(p, h));
  const staged = new Set<Bind>();
  const done: string[] = [];
  for (const h of hides) {
    // A hide inside one already covered is gone already (unless a bind shows it again).
    if (coveredBy(h, done) && !binds.some((b) => isUnder(h, b.dst))) continue;
    const under = binds.filter((b) => isUnder(b.dst, h) && b.dst !== h && !staged.has(b));
    if (under.length === 0) {
      lines.push(
        `if [ -d ${q(h)} ]; then mount -t tmpfs -o ro,mode=0755,size=4k chaos-hidden ${q(h)}; ` +
          `elif [ -e ${q(h)} ]; then mount --bind /dev/null ${q(h)}; fi`,
      );
    } else {
      lines.push(`if [ -d ${q(h)} ]; then`);
      lines.push(`mount -t tmpfs -o mode=0755,size=64k chaos-hidden ${q(plan.stage)}`);
      for (const b of under) {
        const at = join(plan.stage, relative(h, b.dst));
        lines.push(`mkdir -p ${q(at)}`, `mount --bind ${q(b.src)} ${q(at)}`);
        staged.add(b);
      }
      lines.push(`mount --move ${q(plan.stage)} ${q(h)}`, "fi");
    }
    done.push(h);
  }
  // A read-only folder shown under a writable bind (the harness tree under /tmp, as in a clone
  // there) would be covered by it: captured first, with the hides inside it, and shown again.
  const pre = new Map<Bind, string>();
  const covering = binds.filter((b) => b.rw);
  for (const b of binds) {
    if (b.rw || staged.has(b)) continue;
    if (!covering.some((c) => c.dst !== b.dst && isUnder(b.dst, c.dst))) continue;
    const at = join(dirname(plan.stage), "pre", String(pre.size));
    lines.push(`mkdir -p ${q(at)}`, `mount --rbind ${q(b.src)} ${q(at)}`);
    pre.set(b, at);
  }
  for (const b of binds) {
    // A read-only bind of a folder onto itself outside every hide adds nothing (all is read-only
    // below), and would cover the hides inside it.
    if (staged.has(b) || (!b.rw && b.src === b.dst && !pre.has(b))) continue;
    const from = pre.get(b);
    lines.push(
      `mkdir -p ${q(b.dst)}`,
      from ? `mount --rbind ${q(from)} ${q(b.dst)}` : `mount --bind ${q(b.src)} ${q(b.dst)}`,
    );
  }
  const keep = ["/proc", "/proc/*", ...binds.filter((b) => b.rw).map((b) => q(b.dst))];
  lines.push(
    "while read -r _ _ _ _ m _; do",
    '  m=$(printf "%b" "$m")',
    `  case "$m" in ${keep.join("|")}) continue;; esac`,
    '  mount -o remount,bind,ro "$m" 2>/dev/null || true',
    "done </proc/self/mountinfo",
    "mount -t tmpfs -o mode=1777,nosuid,nodev,size=256m chaos-shm /dev/shm",
    // Descriptors the grader inherited (a lock held by `flock`, a pipe) do not reach the command.
    'for f in /proc/$$/fd/*; do f=${f##*/}; if [ "$f" -gt 2 ]; then eval "exec $f>&-"; fi; done',
    // Whatever is still writable but the work folders is a failure of the sandbox, not a risk.
    `cd -- ${q(plan.cwd)}`,
    // Its uid's processes and threads are bounded (a fork bomb stays inside the box).
    `ulimit -u ${MAX_PROCESSES}`,
    // Under the clock fault this script runs preloaded with libfaketime, whose shared memory a
    // preloaded root process makes (0600) and names to its children: the preload skips setpriv
    // and starts again as the box's uid, which makes its own (else "sem_open failed").
    'pre=(); if [ -n "${LD_PRELOAD:-}" ]; then pre=(env "LD_PRELOAD=$LD_PRELOAD"); fi',
    "unset LD_PRELOAD FAKETIME_SHARED",
    // In a Landlock domain of its own: no other box's abstract sockets, its own ports only.
    `exec setpriv --reuid ${plan.uid} --regid ${plan.uid} --clear-groups --no-new-privs ` +
      `--inh-caps=-all --bounding-set=-all -- "\${pre[@]}" ` +
      (plan.landlock ? `${q(plan.landlock.helper)} ${q(plan.landlock.ports)} -- ` : "") +
      `bash -c ${q(PID1)} chaos-sandbox "$@"`,
  );
  return lines.join("\n");
}

/**
 * What the harness keeps of a submission's output: at most `LOG_CAP_BYTES` per log, then one
 * line saying it was truncated, the rest read and discarded (the program is never blocked or
 * killed by it). A flooding sink cannot fill the run folder.
 *
 * `cappedArgv` wraps a long-running command (a graded pipeline's component, whose node appends
 * its output to its log): a bash of the harness's, outside the command's sandbox, pipes the
 * command's stdout and stderr through `head -c`. Given the box's memory cgroup, it also writes a
 * line when the box's processes were OOM-killed while the command ran (sandbox_bounds.ts).
 * `cappedWriter` does the same for output the harness copies itself (setup's log).
 *
 * ```ts
 * import { cappedArgv, cappedWriter, uncappedArgv } from "./log_cap.ts";
 * const argv = cappedArgv(["python3", "sink.py"], { who: "sink" }); // argv[0] is bash
 * uncappedArgv(argv); // ["python3", "sink.py"]
 * const file = Deno.openSync("/tmp/setup.log", { create: true, append: true });
 * const write = cappedWriter(file); // write(chunk) for every chunk of output
 * ```
 * @module
 */

/** The most the harness keeps of one log. */
export const LOG_CAP_BYTES = 64 * 1024 * 1024;

/** The line written once a log reached the cap. */
export function truncatedLine(capBytes: number, who: string): string {
  return `\n[chaos-harness] log truncated at ${capBytes} bytes: the rest of ${who}'s output ` +
    "is discarded\n";
}

/**
 * The wrapper: `$1` the cap, `$2` who, `$3` the memory cgroup (or empty), then the command.
 * `head -c` never reads past its count from a pipe, so one more byte tells whether more came.
 */
export const CAP_SCRIPT = [
  "cap=$1 who=$2 cg=$3; shift 3",
  'ooms() { [ -n "$cg" ] && sed -n "s/^oom_kill //p" "$cg/memory.oom_control" 2>/dev/null; }',
  "before=$(ooms)",
  // The reader outlives a SIGTERM to the node's group (it ends at the command's EOF, so what the
  // command writes while stopping is kept) and writes as it reads: a buffer of head's own would
  // die with it when the group is killed (a short log lost whole).
  '"$@" 2>&1 | { trap "" TERM INT; stdbuf -o0 head -c "$cap"; if [ "$(head -c 1 | wc -c)" -gt 0 ]; then',
  '  printf "\\n[chaos-harness] log truncated at %s bytes: the rest of %s\'s output is discarded\\n" "$cap" "$who"',
  "  exec cat >/dev/null; fi; }",
  "rc=${PIPESTATUS[0]}",
  "after=$(ooms)",
  'if [ -n "$after" ] && [ "$after" -gt "${before:-0}" ]; then',
  '  printf "[chaos-harness] %s\'s sandbox reached its memory bound (%s MiB): the kernel\'s OOM killer killed %s of its processes\\n" "$who" "$(( $(cat "$cg/memory.limit_in_bytes") / 1048576 ))" "$((after - ${before:-0}))"',
  "fi",
  'exit "$rc"',
].join("\n");

export interface CapOptions {
  /** Who writes (named in the truncation line): "sink". */
  who: string;
  /** Default LOG_CAP_BYTES. */
  capBytes?: number;
  /** The sandbox's memory cgroup folder: its OOM kills are written to the log. Default none. */
  memoryCgroup?: string;
}

/** `argv` with its output capped (see the module's doc): run it with its output to the log. */
export function cappedArgv(argv: readonly string[], o: CapOptions): string[] {
  return [
    "bash",
    "-c",
    CAP_SCRIPT,
    "chaos-log-cap",
    String(o.capBytes ?? LOG_CAP_BYTES),
    o.who,
    o.memoryCgroup ?? "",
    ...argv,
  ];
}

/** The command a `cappedArgv` wraps (`argv` itself when it wraps none). */
export function uncappedArgv(argv: readonly string[]): string[] {
  if (argv[0] === "bash" && argv[1] === "-c" && argv[2] === CAP_SCRIPT) return argv.slice(7);
  return [...argv];
}

/**
 * A writer of chunks to `file` that keeps the first `capBytes` (default LOG_CAP_BYTES), then
 * writes the truncation line once and drops the rest.
 */
export function cappedWriter(
  file: { writeSync(p: Uint8Array): number },
  o: { capBytes?: number; who?: string } = {},
): (chunk: Uint8Array) => void {
  const cap = o.capBytes ?? LOG_CAP_BYTES;
  let kept = 0;
  let truncated = false;
  const writeAll = (bytes: Uint8Array) => {
    for (let at = 0; at < bytes.length;) at += file.writeSync(bytes.subarray(at));
  };
  return (chunk) => {
    if (truncated) return;
    const room = cap - kept;
    if (chunk.length <= room) {
      kept += chunk.length;
      writeAll(chunk);
      return;
    }
    writeAll(chunk.subarray(0, room));
    kept = cap;
    truncated = true;
    writeAll(new TextEncoder().encode(truncatedLine(cap, o.who ?? "the command")));
  };
}

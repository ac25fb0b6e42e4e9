/**
 * Exit codes of every command of the harness, in one place.
 *
 * | code | meaning                                                              |
 * | ---- | -------------------------------------------------------------------- |
 * | 0    | pass                                                                 |
 * | 1    | a check failed (data lost, alert missed or doubled, hypothesis unmet)|
 * | 2    | invalid input (scenario file, flags, config, environment variables)  |
 * | 3    | the run itself is invalid or was interrupted (environment failure,   |
 * |      | vacuous run, Ctrl-C)                                                 |
 *
 * ```ts
 * import { runMain, UsageError } from "./exit_codes.ts";
 * await runMain(async () => {
 *   throw new UsageError("--eps must be a positive number, got \"-3\"");
 * });
 * ```
 * @module
 */

export const ExitCode = {
  Pass: 0,
  CheckFailed: 1,
  InvalidInput: 2,
  RunInvalid: 3,
} as const;
export type ExitCode = typeof ExitCode[keyof typeof ExitCode];

/** Invalid input from the user: flags, scenario files, config. Exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** The environment could not do what the run needed (a service did not start...). Exit code 3. */
export class EnvironmentError extends Error {
  override name = "EnvironmentError";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** The run was interrupted by a signal. Exit code 3. */
export class InterruptedError extends Error {
  override name = "InterruptedError";
  constructor(signal: string) {
    super(`interrupted by ${signal}`);
  }
}

/** Maps an error thrown by a command to its exit code. */
function exitCodeFor(error: unknown): ExitCode {
  if (error instanceof UsageError) return ExitCode.InvalidInput;
  return ExitCode.RunInvalid;
}

/**
 * Runs a command's main function: prints errors without a stack trace for the
 * expected kinds and exits with the code the error maps to.
 */
/** `--help` or `-h` was given: `runMain` prints the usage (the message) and exits 0. */
export class HelpRequested extends Error {
  override name = "HelpRequested";
}

export async function runMain(main: () => Promise<ExitCode | void>): Promise<never> {
  lastResort = true;
  installRejectionHandlers();
  let code: ExitCode;
  try {
    code = (await main()) ?? ExitCode.Pass;
  } catch (error) {
    if (error instanceof HelpRequested) {
      console.log(error.message);
      Deno.exit(ExitCode.Pass);
    }
    code = exitCodeFor(error);
    const known = error instanceof UsageError || error instanceof EnvironmentError ||
      error instanceof InterruptedError;
    if (known) {
      console.error(`error: ${(error as Error).message}`);
      const cause = (error as Error).cause;
      if (cause) console.error(`  caused by: ${cause instanceof Error ? cause.message : cause}`);
    } else {
      console.error("error:", error);
    }
  }
  Deno.exit(code);
}

/** Decides whether an unhandled rejection is expected (true: it is dropped; it logs it itself). */
export type RejectionTolerance = (reason: unknown) => boolean;

const tolerances = new Set<RejectionTolerance>();
let lastResort = false;
let installed = false;

/**
 * Drops the unhandled rejections `tolerate` accepts (a client's requests a fault abandoned)
 * until the returned function is called. Any other one ends a `runMain` command with exit 3:
 * the harness failed, which proves nothing about the pipeline (Deno's own exit 1 would read as
 * the pipeline's failure); outside `runMain` (a test) Deno's default stands.
 */
export function tolerateRejections(tolerate: RejectionTolerance): () => void {
  installRejectionHandlers();
  tolerances.add(tolerate);
  return () => void tolerances.delete(tolerate);
}

function installRejectionHandlers(): void {
  if (installed) return;
  installed = true;
  globalThis.addEventListener("unhandledrejection", (e: PromiseRejectionEvent) => {
    for (const tolerate of tolerances) {
      if (tolerate(e.reason)) return e.preventDefault();
    }
    if (!lastResort) return;
    e.preventDefault();
    failedUnexpectedly("an unhandled rejection", e.reason);
  });
  globalThis.addEventListener("error", (e: ErrorEvent) => {
    if (!lastResort) return;
    e.preventDefault();
    failedUnexpectedly("an uncaught exception", e.error ?? e.message);
  });
}

/** A failure of the harness's own that nothing caught: said, and exit 3. */
function failedUnexpectedly(kind: string, reason: unknown): never {
  const text = reason instanceof Error ? (reason.stack ?? reason.message) : String(reason);
  console.error(`error: the harness failed unexpectedly (${kind}), so this proves nothing:`);
  console.error(text);
  Deno.exit(ExitCode.RunInvalid);
}

/**
 * Runs `fn` with a signal that aborts on Ctrl-C (SIGINT) or SIGTERM, so the
 * work in it can heal and clean up before the command exits 3. The signal
 * handlers are removed when `fn` settles.
 */
export async function withInterrupt<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const abort = new AbortController();
  const onSignal = () => abort.abort(new InterruptedError("SIGINT"));
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    return await fn(abort.signal);
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
}

/**
 * A fault that a graded component dodged: the fault could not act because the
 * component's own processes made themselves unreachable to it (a process that
 * removed libfaketime's preload from itself under the `clock` fault). Thrown by
 * a fault's inject instead of a plain Error: the timeline records the fault as
 * not observed with `dodged: true` and the evidence, and the run of a graded
 * pipeline fails on it, blamed on the submission (chaos/outcome.ts
 * `exitedByItself`), where any other failure to inject leaves the run unknown.
 * Only what the harness saw of the component's own processes may raise it,
 * never a failure of the harness's own.
 *
 * ```ts
 * import { DodgedFaultError } from "./dodged.ts";
 * throw new DodgedFaultError("sink", "pid 4120 removed LD_PRELOAD", { pids: [4120] });
 * ```
 * @module
 */

/** A component's processes made the fault unable to act (see the module's doc). */
export class DodgedFaultError extends Error {
  override name = "DodgedFaultError";
  constructor(
    /** The component (`sink`, `detector`) whose processes dodged. */
    readonly target: string,
    message: string,
    /** What was seen of the dodging processes, for results.json (bounded, JSON). */
    readonly evidence: Record<string, unknown>,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * A graded pipeline that did not start, crashed or never joined its groups: the submission's
 * failure (the run fails), never the harness's (which would make the run unknown, exit 3).
 *
 * ```ts
 * import { SubmissionError } from "./submission_error.ts";
 * throw new SubmissionError("the submission's sink exited before joining its group");
 * ```
 * @module
 */

export class SubmissionError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SubmissionError";
  }
}

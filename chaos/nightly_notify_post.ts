/**
 * Posts the nightly's announcement (bodies from reports/nightly_notify.ts) to
 * each webhook, retrying a failed post with a bounded backoff (by default 4
 * attempts, 1 s, 2 s, 4 s apart; 10 s per attempt). A post that still fails is
 * recorded, never thrown: an announcement never fails the night. What is
 * recorded names each target as shown (`env:NAME` or the URL's origin), never
 * the URL with its token.
 *
 * ```ts
 * import { postAll } from "./nightly_notify_post.ts";
 * const records = await postAll(targets, (format) => notifyBody(format, news));
 * ```
 * @module
 */

import { sleep } from "../lib/wait.ts";
import type { NotifyFormat, NotifyTarget } from "../reports/nightly_notify.ts";

export interface PostRecord {
  target: string;
  format: NotifyFormat;
  ok: boolean;
  attempts: number;
  /** The last HTTP status (null: no answer). */
  status: number | null;
  /** Why the last attempt failed (absent when it succeeded). */
  error?: string;
  at: string;
}

export interface PostOptions {
  attempts?: number;
  /** The first wait between attempts; doubled after each (default 1000 ms). */
  backoffMs?: number;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/** Posts `body` to one target, with retries; the record of what happened. */
export async function postOne(
  target: NotifyTarget,
  body: unknown,
  options: PostOptions = {},
): Promise<PostRecord> {
  const attempts = options.attempts ?? 4;
  const doFetch = options.fetch ?? fetch;
  let wait = options.backoffMs ?? 1000;
  let status: number | null = null;
  let error = "";
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      const res = await doFetch(target.url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
      });
      status = res.status;
      const text = await res.text().catch(() => "");
      if (res.ok) {
        return {
          target: target.shown,
          format: target.format,
          ok: true,
          attempts: attempt,
          status,
          at: new Date().toISOString(),
        };
      }
      error = `HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ""}`;
    } catch (e) {
      status = null;
      // A fetch error may quote the URL; keep only its kind.
      error = (e as Error).name === "TimeoutError"
        ? "timed out"
        : `${(e as Error).name}: ${(e as Error).message.replaceAll(target.url, target.shown)}`;
    }
    if (attempt < attempts) {
      await sleep(wait);
      wait *= 2;
    }
  }
  return {
    target: target.shown,
    format: target.format,
    ok: false,
    attempts,
    status,
    error,
    at: new Date().toISOString(),
  };
}

/** Posts to every target (one after another); never throws. */
export async function postAll(
  targets: NotifyTarget[],
  body: (format: NotifyFormat) => unknown,
  options: PostOptions = {},
): Promise<PostRecord[]> {
  const records: PostRecord[] = [];
  for (const t of targets) records.push(await postOne(t, body(t.format), options));
  return records;
}

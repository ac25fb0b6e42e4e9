/**
 * The order check in the reports: a run with reorders shows an `order` check
 * that fails (Markdown, HTML and JUnit alike, from `checks`) and lists the
 * first reordered records with their offsets; a run without one shows the
 * check passing and no such section; older results without it show neither.
 */

import assert from "node:assert/strict";
import { failRun, passRun } from "./_fixtures.ts";
import { renderHtml } from "./html.ts";
import { checks, renderJunit, renderMarkdown } from "./render.ts";
import type { OrderResult } from "../validate/order.ts";

const reordered = (): OrderResult => ({
  verdict: "fail",
  reordered: 2,
  allowed: false,
  checked: 1000,
  without_session: 0,
  examples: [
    {
      partition: 3,
      offset: 812,
      producer_id: "run-w1",
      session: 65537,
      seq: 4410,
      after: { offset: 811, seq: 4500 },
    },
  ],
  reasons: ["2 records reordered within their partition and producer session (...)"],
});

Deno.test("reports: reordered records fail the order check and are listed", () => {
  const data = failRun();
  data.results.completeness = { ...data.results.completeness!, reordered: reordered() };
  const order = checks(data.results).find((c) => c.name.startsWith("order"));
  assert.equal(order?.verdict, "fail");
  assert.match(order!.figures, /reordered 2, records checked 1000; first: run-w1 seq 4410/);
  const md = renderMarkdown(data.results);
  assert.match(md, /## Reordered records/);
  assert.match(md, /partition 3 offset 812: run-w1 seq 4410 \(session 65537\) after seq 4500/);
  assert.match(renderHtml(data), /<h2>Reordered records \(first few\)<\/h2><ul><li>partition 3/);
  assert.match(
    renderJunit(data.results),
    /name="order \(per partition and producer session\)">\n\s*<failure message="reordered 2/,
  );
});

Deno.test("reports: no reorder, a passing order check; older results, none", () => {
  const data = passRun();
  const none = {
    ...reordered(),
    verdict: "pass" as const,
    reordered: 0,
    examples: [],
    reasons: [],
  };
  data.results.completeness = { ...data.results.completeness!, reordered: none };
  assert.equal(checks(data.results).find((c) => c.name.startsWith("order"))?.verdict, "pass");
  assert.doesNotMatch(renderMarkdown(data.results), /Reordered records/);
  const older = passRun();
  assert.equal(checks(older.results).find((c) => c.name.startsWith("order")), undefined);
});

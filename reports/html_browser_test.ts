/**
 * A real browser looks at the report: Debian's headless Chromium loads
 * report.html (a stored pass run), takes a screenshot, and the test checks
 * that the charts were painted (pixels of the series, fault and incident
 * colours), that the DOM has the chart paths, and that the page logged no
 * error. Chromium is installed with apt when missing.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { slow } from "../compose/testing.ts";
import { passRun } from "./_fixtures.ts";
import { INCIDENT_FILL, renderHtml } from "./html.ts";
import { FAULT_FILL } from "./svg_chart.ts";
import { countColor, decodePng } from "./_png.ts";
import { chromium, pageErrors } from "./_chromium.ts";

Deno.test(
  { name: "report.html in headless Chromium: charts painted, no page errors", ...slow },
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "report-browser-" });
    try {
      const page = join(dir, "report.html");
      await Deno.writeTextFile(page, renderHtml(passRun()));
      const url = `file://${page}`;

      const shot = join(dir, "shot.png");
      const res = await chromium(
        [`--screenshot=${shot}`, "--window-size=900,1500", url],
        join(dir, "profile-1"),
      );
      assert.equal(res.code, 0, res.stderr.slice(-2000));
      const img = decodePng(await Deno.readFile(shot));
      assert.equal(img.width, 900);
      assert.ok(countColor(img, "#2c6fbb") > 500, "the series lines are painted");
      assert.ok(countColor(img, FAULT_FILL, 6) > 20_000, "the fault windows are shaded");
      assert.ok(countColor(img, INCIDENT_FILL, 6) > 2000, "the incident windows are shaded");
      assert.ok(countColor(img, "#8e44ad") > 20, "alert markers are painted");
      const console = pageErrors(res.stderr);
      assert.deepEqual(console, [], "the page logged nothing");

      const dom = await chromium(["--dump-dom", url], join(dir, "profile-2"));
      assert.equal(dom.code, 0, dom.stderr.slice(-2000));
      assert.equal(
        dom.stdout.match(/<path class="series" d="M/g)?.length,
        4,
        "3 series + the timeline",
      );
      assert.match(dom.stdout, /<path class="series" d="M[\d.,]+L/, "lines, not lone points");
      assert.match(dom.stdout, /<h1>exfil-under-broker-loss/);
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);

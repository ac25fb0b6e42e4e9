/**
 * A real browser looks at the nightly page: a made-up 30-night history
 * (missing nights, a scenario added and one removed, one that started failing,
 * a name that needs escaping) is rendered to a temporary folder, Debian's
 * headless Chromium loads `index.html?a=…&b=…`, and the test checks that the
 * matrix and the small multiples were painted (pixel colours of the
 * screenshot), that the script filled the comparison for that a and b (the
 * DOM after load), and that the page logged no error.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { slow } from "../compose/testing.ts";
import { type Figures, findRegressions, type NightSummary, renderNightlyHtml } from "./nightly.ts";
import { addDays } from "./nightly_history.ts";
import { FAILED_MARK } from "./nightly_multiples.ts";
import { countColor, decodePng } from "./_png.ts";
import { chromium, pageErrors } from "./_chromium.ts";

export const TONIGHT = "2026-12-05";
const EVIL = `<b>odd & "named"</b>`;

/** 30 made-up nights ending TONIGHT (two missing), oldest first; the last one is tonight. */
export function madeUpHistory(): NightSummary[] {
  const nights: NightSummary[] = [];
  for (let i = 29; i >= 0; i--) {
    const date = addDays(TONIGHT, -i)!;
    if (date === "2026-11-20" || date === "2026-11-21") continue; // the machine was off
    const wave = Math.sin(i / 3);
    const base: Figures = {
      verdict: "pass",
      expect: "pass",
      as_expected: true,
      seed: 1000 + i,
      lost: 0,
      recovery_ms: Math.round(9000 + 1500 * wave),
      acked_eps: Math.round(9000 + 600 * wave),
      detection_p99_ms: Math.round(4000 + 900 * Math.cos(i / 4)),
      run: `runs/flagship-${date}`,
      acked: Math.round(540_000 + 36_000 * wave),
      stack: "local",
    };
    const failing = date >= "2026-12-02";
    const scenarios: Record<string, Figures> = {
      flagship: failing
        ? { ...base, verdict: "fail", as_expected: false, lost: 120 + i, recovery_ms: null }
        : base,
      "unsafe-kafka": {
        ...base,
        verdict: "fail",
        expect: "fail",
        lost: 30_000 + 100 * i,
        run: `runs/unsafe-${date}`,
      },
      [EVIL]: { ...base, detection_p99_ms: null, run: `runs/odd-${date}` },
    };
    if (date >= "2026-11-25") {
      scenarios["net-partition"] = { ...base, acked_eps: base.acked_eps / 2, stack: "docker" };
    }
    if (date <= "2026-11-15") scenarios["retired"] = base;
    nights.push({ date, scenarios });
  }
  return nights;
}

Deno.test(
  { name: "the nightly page in headless Chromium: matrix, charts, comparison of a and b", ...slow },
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "nightly-browser-" });
    try {
      const nights = madeUpHistory();
      const tonight = nights.at(-1)!;
      const earlier = nights.slice(0, -1);
      await Deno.mkdir(join(dir, TONIGHT));
      const page = join(dir, TONIGHT, "index.html");
      await Deno.writeTextFile(
        page,
        renderNightlyHtml(tonight, earlier, findRegressions(tonight, earlier)),
      );
      const url = `file://${page}?a=2026-11-25&b=2026-12-03`;

      const shot = join(dir, "shot.png");
      const res = await chromium(
        [`--screenshot=${shot}`, "--window-size=1280,2000", url],
        join(dir, "profile-1"),
      );
      assert.equal(res.code, 0, res.stderr.slice(-2000));
      const img = decodePng(await Deno.readFile(shot));
      assert.equal(img.width, 1280);
      assert.ok(countColor(img, "#d5f5e3", 6) > 10_000, "passing nights painted in the matrix");
      assert.ok(countColor(img, "#fadbd8", 6) > 2000, "failing nights painted in the matrix");
      assert.ok(countColor(img, "#2c6fbb") > 3000, "the small multiples' lines are painted");
      assert.ok(countColor(img, FAILED_MARK, 30) > 300, "failing nights marked on the charts");
      const logged = pageErrors(res.stderr);
      assert.deepEqual(logged, [], "the page logged nothing");
      const shotCopy = Deno.env.get("CHAOS_NIGHTLY_PAGE_SHOT");
      if (shotCopy) await Deno.copyFile(shot, shotCopy);

      const dom = await chromium(["--dump-dom", url], join(dir, "profile-2"));
      assert.equal(dom.code, 0, dom.stderr.slice(-2000));
      const html = dom.stdout;
      assert.match(html, /data-pair="2026-11-25\.\.2026-12-03"/, "the script ran for a and b");
      assert.match(html, /<caption>night a 2026-11-25 → night b 2026-12-03<\/caption>/);
      assert.match(html, /<tr><td>flagship<\/td><td class="worse">pass → fail<\/td>/);
      assert.match(html, /<tr><td>net-partition<\/td><td class="same">pass → pass<\/td>/);
      const compared = html.slice(html.indexOf('<div id="compare"'), html.indexOf("</div>"));
      assert.doesNotMatch(compared, /retired/, "neither night ran it");
      assert.match(html, /<tr><td>&lt;b&gt;odd &amp; "named"&lt;\/b&gt;<\/td>/);
      assert.doesNotMatch(html, /<b>odd/, "the name stays text");
      assert.match(html, /replay: <code>deno task scenario flagship --seed 1003<\/code>/);
      const lines = html.match(/<path class="series" d="M[\d.,LM]+L/g)?.length ?? 0;
      assert.ok(lines >= 5 * 4 - 1, `a line per scenario and figure recorded (${lines})`);

      // A night the page does not have (and a query that is not a date): said, not thrown.
      const odd = await chromium(
        ["--dump-dom", `file://${page}?a=2026-13-99&b=%3Cimg%20src%3Dx%3E`],
        join(dir, "profile-3"),
      );
      assert.equal(odd.code, 0, odd.stderr.slice(-2000));
      assert.match(odd.stdout, /<p class="worse">no night 2026-13-99, &lt;img src=x&gt; in this/);
      assert.match(odd.stdout, /no scenario ran on either night/);
      for (const r of [dom, odd]) {
        assert.deepEqual(r.stderr.split("\n").filter((l) => /CONSOLE|Uncaught/i.test(l)), []);
      }
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);

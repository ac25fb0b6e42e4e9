import assert from "node:assert/strict";
import { findRegressions } from "./nightly.ts";
import { madeUpHistory } from "./_nightly_fixtures.ts";
import {
  changedLines,
  genericBody,
  matrixOf,
  matrixText,
  type NightNews,
  NotifySettingsError,
  parseNotifyFormat,
  parseNotifySettings,
  redactUrl,
  resolveTarget,
  slackBody,
  teamsBody,
  whatChanged,
} from "./nightly_notify.ts";

function news(): NightNews {
  const { nights, tonight } = madeUpHistory();
  return {
    tonight,
    earlier: nights,
    regressions: findRegressions(tonight, nights),
    page: "https://ci.example/nightly/2026-11-20/index.html",
  };
}

Deno.test("whatChanged: new failures, recoveries, regressions with figure and baseline", () => {
  const n = news();
  const c = whatChanged(n.tonight, n.earlier, n.regressions);
  assert.equal(c.previous, "2026-11-19");
  assert.deepEqual(c.new_failures, [{
    scenario: "broker-restart",
    why: "verdict fail, expected pass",
  }]);
  assert.deepEqual(c.recoveries.map((r) => r.scenario), ["flaky"]);
  assert.deepEqual(
    c.regressions.map((r) => [r.scenario, r.metric, r.tonight, r.baseline]),
    [["broker-restart", "lost", 12, 0], ["sink-slow", "recovery_ms", 60_000, 10_000]],
  );
  assert.deepEqual(c.still_failing, []);
});

Deno.test("whatChanged: a failure on two nights running is still failing, not new", () => {
  const { nights } = madeUpHistory();
  const c = whatChanged(nights[1], [nights[0]], []);
  assert.deepEqual(c.new_failures, []);
  assert.deepEqual(c.still_failing.map((x) => x.scenario), ["flaky"]);
  const first = whatChanged(nights[0], [], []);
  assert.equal(first.previous, null);
  assert.deepEqual(first.new_failures.map((x) => x.scenario), ["flaky"]);
  assert.match(changedLines(first)[0], /first night/);
});

Deno.test("changedLines: what changed first, nothing when nothing did", () => {
  const n = news();
  const lines = changedLines(whatChanged(n.tonight, n.earlier, n.regressions));
  assert.equal(lines[0], "What changed since 2026-11-19:");
  assert.match(lines[1], /^NEW FAILURE broker-restart: verdict fail, expected pass/);
  assert.match(lines[2], /^REGRESSION broker-restart lost: 12 \(baseline 0\)/);
  assert.match(lines[3], /^REGRESSION sink-slow recovery_ms: 60000 \(baseline 10000\)/);
  assert.match(lines[4], /^RECOVERED flaky/);
  const same = madeUpHistory().nights[1];
  assert.deepEqual(
    changedLines(whatChanged({ ...same, date: "2026-11-21" }, [same], [])).slice(1),
    ["still failing flaky: verdict fail, expected pass"],
  );
});

Deno.test("matrixOf/matrixText: scenarios by night, oldest first", () => {
  const n = news();
  const m = matrixOf(n.tonight, n.earlier);
  assert.deepEqual(m.nights, ["2026-11-18", "2026-11-19", "2026-11-20"]);
  assert.deepEqual(m.rows["broker-restart"], ["pass", "pass", "fail"]);
  const text = matrixText(m);
  assert.match(text, /^scenario {8}11-18 {2}11-19 {2}11-20/);
  assert.match(text, /\nbroker-restart {2}ok {5}ok {5}FAIL\n/);
  assert.match(text, /\nflaky {11}FAIL {3}FAIL {3}ok\n/);
});

Deno.test("genericBody: counts, changes, matrix and page", () => {
  const body = genericBody(news());
  assert.equal(body.ok, false);
  assert.equal(body.not_as_expected, 1);
  assert.equal(body.page, "https://ci.example/nightly/2026-11-20/index.html");
  const keys = Object.keys(body);
  assert.ok(keys.indexOf("changed") < keys.indexOf("matrix"), "what changed comes first");
});

Deno.test("slackBody: text and blocks, what changed before the matrix, a link to the page", () => {
  const body = slackBody(news()) as { text: string; blocks: { text?: { text: string } }[] };
  const text = body.text;
  assert.ok(text.indexOf("NEW FAILURE") < text.indexOf("```"), text);
  assert.match(text, /<https:\/\/ci\.example\/nightly\/2026-11-20\/index\.html\|the nightly page>/);
  assert.match(body.blocks[0].text!.text, /Chaos nightly 2026-11-20 \(ATTENTION\)/);
  assert.ok(body.blocks.length >= 4);
});

Deno.test("teamsBody: one Adaptive Card with the same sections", () => {
  const body = teamsBody(news()) as {
    attachments: { contentType: string; content: { body: { text: string }[] } }[];
  };
  assert.equal(body.attachments[0].contentType, "application/vnd.microsoft.card.adaptive");
  const texts = body.attachments[0].content.body.map((b) => b.text);
  assert.match(texts[1], /NEW FAILURE broker-restart/);
  assert.match(texts[2], /broker-restart/);
});

Deno.test("notes (a skipped night) are in every body", () => {
  const n = { ...news(), notes: ["a night started 02:30 did not run"] };
  assert.deepEqual(genericBody(n).notes, n.notes);
  assert.match((slackBody(n) as { text: string }).text, /_a night started 02:30 did not run_/);
});

Deno.test("resolveTarget: env:NAME reads the variable, shown without secrets", () => {
  const env = (n: string) =>
    n === "SLACK_WEBHOOK_URL" ? "https://hooks.slack.com/services/T0/B0/secret" : undefined;
  const t = resolveTarget("env:SLACK_WEBHOOK_URL", "slack", env);
  assert.equal(t.url, "https://hooks.slack.com/services/T0/B0/secret");
  assert.equal(t.shown, "env:SLACK_WEBHOOK_URL");
  const direct = resolveTarget("https://hooks.slack.com/services/T0/B0/secret", "slack", env);
  assert.equal(direct.shown, "https://hooks.slack.com/…");
  assert.equal(redactUrl("http://127.0.0.1:9000/"), "http://127.0.0.1:9000");
  assert.equal(redactUrl("https://u:p@x.example/"), "https://x.example/…");
});

Deno.test("resolveTarget refuses what cannot be posted to", () => {
  const env = () => undefined;
  for (
    const [spec, msg] of [
      ["env:UNSET_X", /UNSET_X is not set/],
      ["env:bad-name", /not a variable name/],
      ["ftp://x.example/a", /must be an http\(s\) URL/],
      ["not a url", /not a URL/],
    ] as const
  ) {
    assert.throws(() => resolveTarget(spec, "generic", env), (e: Error) => {
      assert.ok(e instanceof NotifySettingsError);
      assert.match(e.message, msg);
      assert.doesNotMatch(e.message, /x\.example\/a/, "no path (maybe a token) in the message");
      return true;
    });
  }
});

Deno.test("parseNotifySettings and parseNotifyFormat: bad input is a clear error", () => {
  const ok = parseNotifySettings(
    '{"format":"slack","page_url":"https://ci/n","targets":[{"url":"env:X"},{"url":"http://a","format":"teams"}]}',
  );
  assert.equal(ok.targets.length, 2);
  assert.throws(() => parseNotifySettings("{"), /not JSON/);
  assert.throws(() => parseNotifySettings('{"targets":[]}'), /targets/);
  assert.throws(() => parseNotifySettings('{"targets":[{"url":"http://a","x":1}]}'), /x/);
  assert.throws(() => parseNotifySettings('{"targets":[{"url":"http://a","format":"irc"}]}'));
  assert.equal(parseNotifyFormat("teams"), "teams");
  assert.throws(() => parseNotifyFormat("x"), /generic, slack, teams/);
});

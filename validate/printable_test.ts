import assert from "node:assert/strict";
import { clamp, finite, isoTime, maxOf, minOf, printable } from "./printable.ts";

Deno.test("printable: terminal escapes, controls and bidi overrides are shown, never obeyed", () => {
  const shown = printable("exfil\u001b[2K\r\u001b[32mPASS\u0007\n\u202eevil\u0000\u009b");
  // deno-lint-ignore no-control-regex
  assert.doesNotMatch(shown, /[\u0000-\u001f\u007f-\u009f\u202e]/);
  assert.equal(
    shown,
    "exfil\\u001b[2K\\r\\u001b[32mPASS\\u0007\\n\\u202eevil\\u0000\\u009b",
  );
  assert.equal(printable("plain text, ünïcode, 東京"), "plain text, ünïcode, 東京");
  assert.equal(printable(42), "42");
});

Deno.test("printable: long text is cut and the rest counted", () => {
  assert.equal(printable("x".repeat(20), 5), "xxxxx… (15 more characters)");
  assert.equal(printable("x".repeat(10_000_000)).length < 5000, true);
});

Deno.test("isoTime: a date where one holds the instant, the number where none does", () => {
  assert.equal(isoTime(0), "1970-01-01T00:00:00.000Z");
  assert.equal(isoTime(2 ** 53 - 1), "9007199254740991 (no date)");
  assert.equal(isoTime(1e308), "1e+308 (no date)");
  assert.equal(isoTime(NaN), "NaN (no date)");
  assert.equal(isoTime(-Infinity), "-Infinity (no date)");
  assert.equal(isoTime(null), "-");
  assert.equal(isoTime(-1e15).endsWith("Z"), true);
});

Deno.test("numbers: bounded, finite, and max/min over any count without a stack overflow", () => {
  assert.equal(clamp(NaN, 0, 10), 0);
  assert.equal(clamp(Infinity, 0, 10), 10);
  assert.equal(clamp(5, 0, 10), 5);
  assert.equal(finite(Infinity, 7), 7);
  assert.equal(finite("3", 7), 7);
  assert.equal(finite(-0, 7), -0);
  const many = Array.from({ length: 1_000_000 }, (_, i) => i);
  assert.equal(maxOf(many), 999_999);
  assert.equal(minOf(many), 0);
  assert.equal(maxOf([], 1), 1);
});

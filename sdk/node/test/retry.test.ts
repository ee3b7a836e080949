import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { backoffDelayMs, MAX_RETRY_AFTER_MS, parseHttpDate, parseRetryAfter } from "../src/retry.js";

const NOW = Date.UTC(2026, 11, 4, 12, 0, 0);

describe("parseRetryAfter", () => {
  test("delay-seconds form", () => {
    assert.equal(parseRetryAfter("12", NOW), 12_000);
    assert.equal(parseRetryAfter(" 0 ", NOW), 0);
  });

  test("IMF-fixdate form", () => {
    assert.equal(parseRetryAfter("Fri, 04 Dec 2026 12:00:30 GMT", NOW), 30_000);
  });

  test("obsolete RFC 850 form", () => {
    assert.equal(parseRetryAfter("Friday, 04-Dec-26 12:01:00 GMT", NOW), 60_000);
  });

  test("obsolete asctime form", () => {
    assert.equal(parseRetryAfter("Fri Dec  4 12:00:05 2026", NOW), 5_000);
  });

  test("date in the past means no wait", () => {
    assert.equal(parseRetryAfter("Thu, 03 Dec 2026 12:00:00 GMT", NOW), 0);
  });

  test("long waits are capped", () => {
    assert.equal(parseRetryAfter("999999", NOW), MAX_RETRY_AFTER_MS);
    assert.equal(parseRetryAfter("Sat, 05 Dec 2026 12:00:00 GMT", NOW), MAX_RETRY_AFTER_MS);
  });

  test("malformed values are ignored", () => {
    for (const value of [undefined, "", "soon", "-5", "1.5", "12 seconds", "Fri, 04 Dec 2026 25:00:00 GMT", "Fri, 04 Foo 2026 12:00:00 GMT", "2026-12-04T12:00:30Z"]) {
      assert.equal(parseRetryAfter(value, NOW), null, `accepted ${JSON.stringify(value)}`);
    }
  });

  test("HTTP-date is read as GMT", () => {
    assert.equal(parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"), Date.UTC(1994, 10, 6, 8, 49, 37));
    assert.equal(parseHttpDate("Sun Nov  6 08:49:37 1994"), Date.UTC(1994, 10, 6, 8, 49, 37));
  });
});

describe("backoffDelayMs", () => {
  test("doubles per failure", () => {
    const full = (): number => 1;
    assert.deepEqual([1, 2, 3, 4].map((failures) => backoffDelayMs(failures, 60_000, full)), [1000, 2000, 4000, 8000]);
  });

  test("is capped at the interval", () => {
    assert.equal(backoffDelayMs(10, 60_000, () => 1), 60_000);
    assert.equal(backoffDelayMs(1000, 60_000, () => 1), 60_000);
  });

  test("jitter keeps half to all of the ceiling", () => {
    assert.equal(backoffDelayMs(3, 60_000, () => 0), 2000);
    assert.equal(backoffDelayMs(3, 60_000, () => 0.5), 3000);
  });
});

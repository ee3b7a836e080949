/** The longest wait a Retry-After header may impose, so a broken header cannot silence the SDK for days. */
export const MAX_RETRY_AFTER_MS = 60 * 60 * 1000;

/** The first retry after a failure waits up to this long; each further failure doubles it. */
export const FIRST_BACKOFF_MS = 1000;

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

// The three date forms RFC 9110 (section 5.6.7) requires recipients to accept, all in GMT:
// IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT"
// and asctime "Sun Nov  6 08:49:37 1994".
const IMF_FIXDATE = /^[A-Za-z]{3}, (\d{2}) ([A-Za-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const RFC_850 = /^[A-Za-z]{6,9}, (\d{2})-([A-Za-z]{3})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const ASCTIME = /^[A-Za-z]{3} ([A-Za-z]{3}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/;

/**
 * Converts a Retry-After header value to a delay in milliseconds from `nowMs`.
 * Accepts both forms of RFC 9110: a number of seconds and an HTTP-date. Returns null
 * for a missing or malformed value, 0 for a date in the past, and at most MAX_RETRY_AFTER_MS.
 */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | null {
  if (value === undefined) {
    return null;
  }
  const text = value.trim();

  if (/^\d+$/.test(text)) {
    return Math.min(Number(text) * 1000, MAX_RETRY_AFTER_MS);
  }

  const dateMs = parseHttpDate(text);
  if (dateMs === null) {
    return null;
  }
  return Math.min(Math.max(dateMs - nowMs, 0), MAX_RETRY_AFTER_MS);
}

/** Parses an HTTP-date in any of the three RFC 9110 forms to epoch milliseconds, or returns null. */
export function parseHttpDate(text: string): number | null {
  let match = IMF_FIXDATE.exec(text);
  if (match) {
    const [, day, month, year, hour, minute, second] = match;
    return utcMs(year!, month!, day!, hour!, minute!, second!);
  }

  match = RFC_850.exec(text);
  if (match) {
    const [, day, month, shortYear, hour, minute, second] = match;
    return utcMs(fullYear(Number(shortYear)), month!, day!, hour!, minute!, second!);
  }

  match = ASCTIME.exec(text);
  if (match) {
    const [, month, day, hour, minute, second, year] = match;
    return utcMs(year!, month!, day!.trim(), hour!, minute!, second!);
  }
  return null;
}

// RFC 9110: a two-digit year that appears to be more than 50 years in the future is
// read as the most recent past year with the same last two digits.
function fullYear(shortYear: number): string {
  const thisYear = new Date().getUTCFullYear();
  let year = thisYear - (thisYear % 100) + shortYear;
  if (year > thisYear + 50) {
    year -= 100;
  }
  return String(year);
}

function utcMs(year: string | number, month: string, day: string, hour: string, minute: string, second: string): number | null {
  const monthIndex = MONTHS.indexOf(month.toLowerCase());
  if (monthIndex < 0) {
    return null;
  }
  const parts = [Number(day), Number(hour), Number(minute), Number(second)];
  const [d, h, m, s] = parts as [number, number, number, number];
  if (d < 1 || d > 31 || h > 23 || m > 59 || s > 60) {
    return null;
  }
  return Date.UTC(Number(year), monthIndex, d, h, m, s);
}

/**
 * Returns the wait before retry number `failures` (1 or more): doubling from
 * FIRST_BACKOFF_MS, capped at the heartbeat interval, and scaled by a random factor
 * between 0.5 and 1 so that many agents do not retry in step.
 */
export function backoffDelayMs(failures: number, intervalMs: number, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(failures, 1) - 1, 30);
  const ceiling = Math.min(intervalMs, FIRST_BACKOFF_MS * 2 ** exponent);
  return ceiling * (0.5 + 0.5 * random());
}

/**
 * `new Date(ms).toISOString()` without the Date. Every log line carries a UTC ISO-8601 timestamp
 * (ASVS 5.0 16.2.2) and every session view three of them, and V8's Date construction plus
 * toISOString cost ~8.7k instructions per call where this arithmetic costs ~1.7k (callgrind,
 * bench/). Written by hand for that reason only; the tests compare it with toISOString across
 * the whole supported range.
 */

const DAY_MS = 86_400_000;
/** 9999-12-31T23:59:59.999Z: beyond it toISOString writes a six-digit signed year. */
const LAST_FOUR_DIGIT_YEAR_MS = 253_402_300_799_999;

/** The same string as `new Date(ms).toISOString()` for any integer ms of 1970–9999. */
export function isoTime(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0 || ms > LAST_FOUR_DIGIT_YEAR_MS) {
    return new Date(ms).toISOString();
  }
  const days = Math.floor(ms / DAY_MS);
  let rest = ms - days * DAY_MS;
  // Civil date from days since 1970-01-01: H. Hinnant, "chrono-Compatible Low-Level Date
  // Algorithms" (civil_from_days), with eras of 400 years counted from 0000-03-01.
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const dayOfEra = z - era * 146_097;
  const yearOfEra = Math.floor(
    (dayOfEra -
      Math.floor(dayOfEra / 1460) +
      Math.floor(dayOfEra / 36_524) -
      Math.floor(dayOfEra / 146_096)) /
      365,
  );
  const dayOfYear =
    dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const shiftedMonth = Math.floor((5 * dayOfYear + 2) / 153); // 0 = March
  const day = dayOfYear - Math.floor((153 * shiftedMonth + 2) / 5) + 1;
  const month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9;
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = Math.floor(rest / 1000);
  const millis = rest - seconds * 1000;
  return (
    `${year}-${two(month)}-${two(day)}T${two(hours)}:${two(minutes)}:${two(seconds)}.` +
    `${millis < 10 ? '00' : millis < 100 ? '0' : ''}${millis}Z`
  );
}

function two(n: number): string {
  return n < 10 ? `0${n}` : `${n}`;
}

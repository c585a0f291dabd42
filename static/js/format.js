// How the pages write durations, numbers and times: the rules of jobs/formatting.py,
// which tests/jobs/test_formatting.py holds this module to, case by case.
// No DOM here beyond reading the configured time zone, so that node can run it.

export const MISSING = "–";
export const SIGNIFICANT_DIGITS = 6;

/** "4.2 s", "42 s", "4 min 5 s", "2 h 3 min". */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return MISSING;
  const clamped = Math.max(seconds, 0);
  const tenths = Math.floor(clamped * 10 + 0.5);
  if (tenths < 100) {
    const whole = Math.floor(tenths / 10);
    const tenth = tenths % 10;
    return tenth ? `${whole}.${tenth} s` : `${whole} s`;
  }
  const total = Math.floor(clamped + 0.5);
  if (total < 60) return `${total} s`;
  const minutes = Math.floor(total / 60);
  if (minutes < 60) return `${minutes} min ${total % 60} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

const withoutTrailingZeros = (text) => (text.includes(".") ? text.replace(/\.?0+$/, "") : text);

/** `digits` significant digits, as Python's "{:.6g}" writes them: "0.00578952", "1.5e-05". */
export function number(value, digits = SIGNIFICANT_DIGITS) {
  if (value === null || value === undefined) return MISSING;
  if (Number.isNaN(value)) return "NaN";
  if (!Number.isFinite(value)) return value > 0 ? "inf" : "-inf";
  if (value === 0) return "0";
  const [mantissa, exp] = value.toExponential(digits - 1).split("e");
  const exponent = Number(exp);
  if (exponent < -4 || exponent >= digits) {
    const sign = exponent < 0 ? "-" : "+";
    return `${withoutTrailingZeros(mantissa)}e${sign}${String(Math.abs(exponent)).padStart(2, "0")}`;
  }
  return withoutTrailingZeros(value.toFixed(digits - 1 - exponent));
}

/**
 * The same rule for Plotly's hover labels, in its d3-format: six significant digits without
 * trailing zeros (d3 writes an exponent as "e-5" where Python writes "e-05").
 */
export const PLOTLY_NUMBER = `.${SIGNIFICANT_DIGITS}~g`;

/** The zone the server shows times in (base.html puts TIME_ZONE on <html>). */
function configuredZone() {
  return globalThis.document?.documentElement.dataset.timeZone || "UTC";
}

const timeFormats = new Map();

/** "2026-12-03 18:04:05 UTC" ("UTC+01:00" off UTC) for an ISO 8601 time, in the server's zone. */
export function timestamp(iso, timeZone = configuredZone()) {
  if (iso === null || iso === undefined || iso === "") return MISSING;
  if (!timeFormats.has(timeZone)) {
    const options = { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" };
    Object.assign(options, { second: "2-digit", hourCycle: "h23", timeZoneName: "longOffset", timeZone });
    timeFormats.set(timeZone, new Intl.DateTimeFormat("en-US", options));
  }
  const parts = {};
  for (const { type, value } of timeFormats.get(timeZone).formatToParts(new Date(iso))) parts[type] = value;
  // "GMT+01:00", and for UTC "GMT" or "GMT+00:00" depending on the ICU version.
  const zone = /^GMT([+-]00:00)?$/.test(parts.timeZoneName) ? "UTC" : parts.timeZoneName.replace(/^GMT/, "UTC");
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second} ${zone}`;
}

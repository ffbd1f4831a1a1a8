// The history chart's ranges (the page offers four of the API's `range` values) and a time axis
// whose labels fit the range: hours for a day, days for a week or a month, months for a year.
// Ticks fall on whole hours, days and months of the browser's time zone.

import type { operations } from "../api/schema";

type ApiRange = NonNullable<NonNullable<operations["rates-history"]["parameters"]["query"]>["range"]>;

export const HISTORY_RANGES = ["24h", "7d", "30d", "1y"] as const satisfies readonly ApiRange[];
export type HistoryRange = (typeof HISTORY_RANGES)[number];

/** The button's text and the phrase used in captions and notes. */
export const RANGE_NAMES: Readonly<Record<HistoryRange, { button: string; phrase: string }>> = {
  "24h": { button: "24 h", phrase: "the last 24 hours" },
  "7d": { button: "7 d", phrase: "the last 7 days" },
  "30d": { button: "30 d", phrase: "the last 30 days" },
  "1y": { button: "1 y", phrase: "the last year" },
};

/** "clock": seconds and minutes, for data shorter than the range asks (a service just started). */
type TimeUnit = "clock" | "hour" | "day" | "month";

const RANGE_UNIT: Readonly<Record<HistoryRange, TimeUnit>> = { "24h": "hour", "7d": "day", "30d": "day", "1y": "month" };
const FINER: Readonly<Record<TimeUnit, TimeUnit | null>> = { month: "day", day: "hour", hour: "clock", clock: null };
/** Tick steps per unit, in that unit (clock: seconds). */
const STEPS: Readonly<Record<TimeUnit, readonly number[]>> = {
  clock: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800],
  hour: [1, 2, 3, 6, 12],
  day: [1, 2, 3, 7, 14],
  month: [1, 2, 3, 6],
};

/** The first tick at or after `from` (ms) for `unit` and `step`, on a whole local hour/day/month. */
function firstTick(unit: Exclude<TimeUnit, "clock">, step: number, from: number): Date {
  const d = new Date(from);
  if (unit === "hour") d.setMinutes(0, 0, 0);
  else d.setHours(0, 0, 0, 0);
  if (unit === "month") d.setDate(1);
  if (d.getTime() < from) advance(d, unit, 1);
  // Whole multiples of the step within the day (hours) or the year (months); days count from here.
  while ((unit === "hour" && d.getHours() % step !== 0) || (unit === "month" && d.getMonth() % step !== 0)) {
    advance(d, unit, 1);
  }
  return d;
}

function advance(d: Date, unit: Exclude<TimeUnit, "clock">, step: number): void {
  if (unit === "hour") d.setHours(d.getHours() + step);
  else if (unit === "day") d.setDate(d.getDate() + step);
  else d.setMonth(d.getMonth() + step);
}

/** Tick times in seconds from `min` to `max` (seconds), at most `limit` + 1 of them. */
function ticksOf(unit: TimeUnit, step: number, min: number, max: number, limit: number): number[] {
  const ticks: number[] = [];
  if (unit === "clock") {
    for (let t = Math.ceil(min / step) * step; t <= max && ticks.length <= limit; t += step) ticks.push(t);
    return ticks;
  }
  for (const d = firstTick(unit, step, min * 1000); d.getTime() <= max * 1000 && ticks.length <= limit; ) {
    ticks.push(d.getTime() / 1000);
    advance(d, unit, step);
  }
  return ticks;
}

function labelsOf(unit: TimeUnit, step: number, ticks: readonly number[], locale?: string): string[] {
  const format = (options: Intl.DateTimeFormatOptions) => new Intl.DateTimeFormat(locale, options);
  const time = format({ hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  const day = format({ month: "short", day: "numeric" });
  const seconds = format({ hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
  const month = format({ month: "short" });
  const monthYear = format({ month: "short", year: "numeric" });
  return ticks.map((t, i) => {
    const d = new Date(t * 1000);
    switch (unit) {
      case "clock":
        return (step < 60 ? seconds : time).format(d);
      case "hour": // midnight names the new day
        return d.getHours() === 0 ? day.format(d) : time.format(d);
      case "day":
        return day.format(d);
      case "month": // the year on the first tick and at each January
        return i === 0 || d.getMonth() === 0 ? monthYear.format(d) : month.format(d);
    }
  });
}

export interface TimeAxis {
  ticks: number[];
  labels: string[];
}

/**
 * Ticks and labels for a chart of `range` spanning `min`..`max` (seconds) with room for at most
 * `maxTicks` labels: the range's unit at the smallest step that gives two ticks or more and fits,
 * else a finer unit (data shorter than the range: a service just started), else what fits.
 */
export function timeAxis(range: HistoryRange, min: number, max: number, maxTicks: number, locale?: string): TimeAxis {
  const limit = Math.max(2, Math.floor(maxTicks));
  const axisOf = (unit: TimeUnit, step: number): TimeAxis => {
    const ticks = ticksOf(unit, step, min, max, limit).slice(0, limit);
    return { ticks, labels: labelsOf(unit, step, ticks, locale) };
  };
  let fallback: TimeAxis | null = null;
  for (let unit: TimeUnit | null = RANGE_UNIT[range]; unit !== null; unit = FINER[unit]) {
    for (const step of STEPS[unit]) {
      const count = ticksOf(unit, step, min, max, limit).length;
      if (count > limit) continue;
      if (count >= 2) return axisOf(unit, step);
      fallback ??= axisOf(unit, step); // a longer step only gives fewer: try a finer unit
      break;
    }
  }
  const unit = RANGE_UNIT[range];
  return fallback ?? axisOf(unit, STEPS[unit][STEPS[unit].length - 1] ?? 1);
}

/** How often a series of `seconds` resolution has a point at most: "a day", "an hour", "every 5 minutes". */
export function resolutionPhrase(seconds: number): string {
  const named: Readonly<Record<number, string>> = { 86400: "a day", 3600: "an hour", 60: "a minute", 1: "a second" };
  const name = named[seconds];
  if (name !== undefined) return name;
  if (seconds % 86400 === 0) return `every ${seconds / 86400} days`;
  if (seconds % 3600 === 0) return `every ${seconds / 3600} hours`;
  return seconds % 60 === 0 ? `every ${seconds / 60} minutes` : `every ${seconds} seconds`;
}

/** The line under the chart: how many points, since when, how far apart at most. */
export function seriesNote(points: readonly { t: string }[], resolutionSeconds: number): string {
  const first = points[0];
  if (first === undefined) return "";
  if (points.length === 1) return "One point recorded so far; the line grows with every refresh of the service.";
  const since = new Date(first.t).toLocaleString();
  return `${points.length} points since ${since}, at most one ${resolutionPhrase(resolutionSeconds)}.`;
}

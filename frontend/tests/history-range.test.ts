import { beforeAll, describe, expect, it } from "vitest";
import { HISTORY_RANGES, resolutionPhrase, seriesNote, timeAxis } from "../src/lib/history-range";

// Ticks fall on the browser's local hours, days and months; the tests pin the zone to UTC.
beforeAll(() => {
  process.env.TZ = "UTC";
});

const at = (iso: string) => Date.parse(iso) / 1000;
const HOUR = 3600;
const DAY = 86400;
const NOW = at("2026-12-04T10:17:23Z");

function axis(range: (typeof HISTORY_RANGES)[number], span: number, maxTicks = 8) {
  return timeAxis(range, NOW - span, NOW, maxTicks, "en-US");
}

describe("timeAxis", () => {
  it("labels 24 hours in whole hours, naming the day at midnight", () => {
    const { ticks, labels } = axis("24h", DAY);
    expect(labels).toEqual(["12:00", "15:00", "18:00", "21:00", "Dec 4", "03:00", "06:00", "09:00"]);
    expect(ticks[0]).toBe(at("2026-12-03T12:00:00Z"));
    expect(ticks.every((t) => t % (3 * HOUR) === 0)).toBe(true);
  });

  it("labels 7 and 30 days in days at midnight", () => {
    expect(axis("7d", 7 * DAY).labels).toEqual(["Nov 28", "Nov 29", "Nov 30", "Dec 1", "Dec 2", "Dec 3", "Dec 4"]);
    const month = axis("30d", 30 * DAY);
    expect(month.labels).toEqual(["Nov 5", "Nov 12", "Nov 19", "Nov 26", "Dec 3"]);
    expect(month.ticks.every((t) => t % DAY === 0)).toBe(true);
  });

  it("labels a year in months, with the year on the first tick and at January", () => {
    const { ticks, labels } = axis("1y", 365 * DAY);
    expect(labels).toEqual(["Jan 2026", "Mar", "May", "Jul", "Sep", "Nov"]);
    expect(ticks[0]).toBe(at("2026-01-01T00:00:00Z"));
    expect(axis("1y", 365 * DAY, 12).labels).toEqual([
      "Jan 2026", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]);
    expect(timeAxis("1y", at("2025-12-01T00:00:00Z"), NOW, 13, "en-US").labels.slice(0, 3)).toEqual(["Dec 2025", "Jan 2026", "Feb"]);
  });

  it("never gives more ticks than there is room for, and two or more when three fit", () => {
    for (const range of HISTORY_RANGES) {
      for (const maxTicks of [0, 2, 3, 5, 9, 14]) {
        const span = { "24h": DAY, "7d": 7 * DAY, "30d": 30 * DAY, "1y": 365 * DAY }[range];
        const { ticks, labels } = axis(range, span, maxTicks);
        expect(ticks.length, `${range} in ${maxTicks}`).toBeLessThanOrEqual(Math.max(2, maxTicks));
        if (maxTicks >= 3) expect(ticks.length, `${range} in ${maxTicks}`).toBeGreaterThanOrEqual(2);
        expect(labels).toHaveLength(ticks.length);
        expect(ticks.every((t) => t >= NOW - span && t <= NOW)).toBe(true);
      }
    }
  });

  it("steps down to a finer unit when the data is shorter than the range (a service just started)", () => {
    // A year's chart holding 5 hours: hours, not a lone month label.
    expect(axis("1y", 5 * HOUR, 6).labels).toEqual(["06:00", "07:00", "08:00", "09:00", "10:00"]);
    // A day's chart holding 20 seconds of refreshes every 2 s: seconds.
    expect(axis("24h", 20, 5).labels).toEqual(["10:17:05", "10:17:10", "10:17:15", "10:17:20"]);
    expect(axis("24h", 40 * 60, 5).labels).toEqual(["09:40", "09:50", "10:00", "10:10"]);
  });
});

describe("seriesNote", () => {
  it("says how many points since when and how far apart", () => {
    const points = [{ t: "2026-11-27T11:00:00Z" }, { t: "2026-11-27T12:00:00Z" }, { t: "2026-11-27T13:00:00Z" }];
    expect(seriesNote(points, 3600)).toMatch(/^3 points since .*2026.*, at most one an hour\.$/);
    expect(seriesNote([], 3600)).toBe("");
    expect(seriesNote(points.slice(0, 1), 2)).toBe("One point recorded so far; the line grows with every refresh of the service.");
  });

  it("names the resolution in words", () => {
    expect([86400, 3600, 300, 60, 2, 1, 7200, 172800].map(resolutionPhrase)).toEqual([
      "a day", "an hour", "every 5 minutes", "a minute", "every 2 seconds", "a second", "every 2 hours", "every 2 days",
    ]);
  });
});

import { describe, expect, it } from "vitest";
import { DEFAULT_REFRESH_SECONDS, RefreshSchedule, refreshSecondsFrom, retryDelayMs } from "../src/lib/schedule";

describe("refreshSecondsFrom", () => {
  it("defaults to five minutes", () => {
    expect(DEFAULT_REFRESH_SECONDS).toBe(300);
    expect(refreshSecondsFrom("")).toBe(300);
  });

  it("reads ?refresh=<seconds>", () => {
    expect(refreshSecondsFrom("?refresh=3")).toBe(3);
    expect(refreshSecondsFrom("?base=eur&refresh=1.5")).toBe(1.5);
  });

  it.each(["?refresh=0", "?refresh=-2", "?refresh=abc", "?refresh=1e3", "?refresh=999999", "?refresh="])(
    "falls back to the default for %s",
    (search) => {
      expect(refreshSecondsFrom(search)).toBe(300);
    },
  );
});

describe("retryDelayMs", () => {
  const mid = () => 0.5; // no jitter

  it("doubles from 5 s up to the interval", () => {
    const delays = [1, 2, 3, 4, 5, 6, 7].map((n) => retryDelayMs(n, 300_000, mid));
    expect(delays).toEqual([5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000]);
  });

  it("never waits longer than the interval", () => {
    expect(retryDelayMs(1, 2_000, mid)).toBe(2_000);
    expect(retryDelayMs(3, 2_000, () => 1)).toBe(2_000);
  });

  it("jitters by ±20 %", () => {
    expect(retryDelayMs(2, 300_000, () => 0)).toBe(8_000);
    expect(retryDelayMs(2, 300_000, () => 1)).toBe(12_000);
  });
});

describe("RefreshSchedule", () => {
  it("is due at once, then one interval after a success", () => {
    const schedule = new RefreshSchedule(60_000, 1_000, () => 0.5);
    expect(schedule.isDue(1_000)).toBe(true);
    schedule.succeeded(1_000);
    expect(schedule.isDue(60_999)).toBe(false);
    expect(schedule.remainingMs(31_000)).toBe(30_000);
    expect(schedule.isDue(61_000)).toBe(true);
  });

  it("backs off after failures and resets after a success", () => {
    const schedule = new RefreshSchedule(60_000, 0, () => 0.5);
    schedule.failed(0);
    expect(schedule.remainingMs(0)).toBe(5_000);
    schedule.failed(5_000);
    expect(schedule.remainingMs(5_000)).toBe(10_000);
    expect(schedule.consecutiveFailures).toBe(2);
    schedule.succeeded(15_000);
    expect(schedule.consecutiveFailures).toBe(0);
    expect(schedule.remainingMs(15_000)).toBe(60_000);
  });
});

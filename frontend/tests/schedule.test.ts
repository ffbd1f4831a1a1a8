import { describe, expect, it } from "vitest";
import { RefreshSchedule, refreshSecondsFrom, retryDelayMs } from "../src/lib/schedule";

describe("refreshSecondsFrom", () => {
  it("has no interval of its own: without ?refresh= the API's max-age decides", () => {
    expect(refreshSecondsFrom("")).toBeNull();
    expect(refreshSecondsFrom("?base=eur")).toBeNull();
  });

  it("reads ?refresh=<seconds>", () => {
    expect(refreshSecondsFrom("?refresh=3")).toBe(3);
    expect(refreshSecondsFrom("?base=eur&refresh=1.5")).toBe(1.5);
  });

  it.each(["?refresh=0", "?refresh=-2", "?refresh=abc", "?refresh=1e3", "?refresh=999999", "?refresh="])(
    "ignores %s",
    (search) => {
      expect(refreshSecondsFrom(search)).toBeNull();
    },
  );
});

describe("retryDelayMs", () => {
  const mid = () => 0.5; // no jitter

  it("doubles from 5 s up to the cap", () => {
    const delays = [1, 2, 3, 4, 5, 6, 7].map((n) => retryDelayMs(n, 300_000, mid));
    expect(delays).toEqual([5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000]);
  });

  it("never waits longer than the cap", () => {
    expect(retryDelayMs(1, 2_000, mid)).toBe(2_000);
    expect(retryDelayMs(3, 2_000, () => 1)).toBe(2_000);
  });

  it("jitters by ±20 %", () => {
    expect(retryDelayMs(2, 300_000, () => 0)).toBe(8_000);
    expect(retryDelayMs(2, 300_000, () => 1)).toBe(12_000);
  });
});

describe("RefreshSchedule following the API", () => {
  it("is due at once, then when max-age runs out plus 2-5 s spread per tab", () => {
    const early = new RefreshSchedule(null, 1_000, () => 0);
    expect(early.isDue(1_000)).toBe(true);
    early.succeeded(1_000, 120);
    expect(early.remainingMs(1_000)).toBe(122_000);
    expect(early.isDue(122_999)).toBe(false);
    expect(early.isDue(123_000)).toBe(true);

    const late = new RefreshSchedule(null, 1_000, () => 1);
    late.succeeded(1_000, 120);
    expect(late.remainingMs(1_000)).toBe(125_000);
  });

  it("follows each answer's max-age, so a changed server interval needs no client change", () => {
    const schedule = new RefreshSchedule(null, 0, () => 0);
    schedule.succeeded(0, 600);
    expect(schedule.remainingMs(0)).toBe(602_000);
    schedule.succeeded(0, 0); // the server is refreshing right now: ask again shortly after
    expect(schedule.remainingMs(0)).toBe(2_000);
  });

  it("waits a minute when an answer carries no max-age", () => {
    const schedule = new RefreshSchedule(null, 0, () => 0.5);
    schedule.succeeded(0, null);
    expect(schedule.remainingMs(0)).toBe(60_000);
  });

  it("backs off after failures up to a minute and resets after a success", () => {
    const schedule = new RefreshSchedule(null, 0, () => 0.5);
    const delays = [1, 2, 3, 4, 5].map(() => {
      schedule.failed(0);
      return schedule.remainingMs(0);
    });
    expect(delays).toEqual([5_000, 10_000, 20_000, 40_000, 60_000]);
    expect(schedule.consecutiveFailures).toBe(5);
    schedule.succeeded(0, 30);
    expect(schedule.consecutiveFailures).toBe(0);
    expect(schedule.remainingMs(0)).toBe(33_500);
  });
});

describe("RefreshSchedule at a fixed interval (?refresh=)", () => {
  it("ignores max-age and caps retries at the interval", () => {
    const schedule = new RefreshSchedule(2_000, 0, () => 0.5);
    schedule.succeeded(0, 300);
    expect(schedule.remainingMs(0)).toBe(2_000);
    schedule.failed(0);
    expect(schedule.remainingMs(0)).toBe(2_000);
    schedule.succeeded(0, null);
    expect(schedule.remainingMs(0)).toBe(2_000);
  });
});

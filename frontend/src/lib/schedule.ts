// When to ask the API next. After a success: one refresh interval. After failures: exponential
// backoff (5 s, 10 s, 20 s, ... capped at the interval) with jitter, so many open tabs do not all
// hit a recovering backend in the same second.

export const DEFAULT_REFRESH_SECONDS = 300;
const MIN_REFRESH_SECONDS = 1;
const MAX_REFRESH_SECONDS = 86_400;
const FIRST_RETRY_MS = 5_000;

/**
 * The auto-refresh interval in seconds: `?refresh=<seconds>` in the page URL (tests use a few
 * seconds), otherwise 5 minutes. Out-of-range or malformed values fall back to the default.
 */
export function refreshSecondsFrom(search: string): number {
  const raw = new URLSearchParams(search).get("refresh");
  if (raw === null || !/^\d+(\.\d+)?$/.test(raw)) return DEFAULT_REFRESH_SECONDS;
  const seconds = Number(raw);
  return seconds >= MIN_REFRESH_SECONDS && seconds <= MAX_REFRESH_SECONDS
    ? seconds
    : DEFAULT_REFRESH_SECONDS;
}

/** Delay before retry number `failures` (1-based), jittered by ±20 % and never above the interval. */
export function retryDelayMs(failures: number, intervalMs: number, random: () => number = Math.random): number {
  const first = Math.min(FIRST_RETRY_MS, intervalMs);
  const backoff = first * 2 ** Math.max(0, failures - 1);
  const jittered = backoff * (0.8 + 0.4 * random());
  return Math.min(intervalMs, Math.round(jittered));
}

export class RefreshSchedule {
  private failures = 0;
  private nextAt: number;

  constructor(
    private readonly intervalMs: number,
    now: number,
    private readonly random: () => number = Math.random,
  ) {
    this.nextAt = now;
  }

  succeeded(now: number): void {
    this.failures = 0;
    this.nextAt = now + this.intervalMs;
  }

  failed(now: number): void {
    this.failures += 1;
    this.nextAt = now + retryDelayMs(this.failures, this.intervalMs, this.random);
  }

  isDue(now: number): boolean {
    return now >= this.nextAt;
  }

  remainingMs(now: number): number {
    return Math.max(0, this.nextAt - now);
  }

  get consecutiveFailures(): number {
    return this.failures;
  }
}

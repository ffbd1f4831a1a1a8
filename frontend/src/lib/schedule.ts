// When to ask the API next. After a success: when the answer's `Cache-Control: max-age` runs out,
// that is at the backend's next refresh (the service owns the interval; the page does not repeat
// it), plus a short settle delay spread per tab, so the poll lands after the refresh and many open
// tabs do not all arrive in the same second. After failures: exponential backoff (5 s, 10 s,
// 20 s, ... capped) with jitter, so tabs do not all hit a recovering backend at once.

const MIN_REFRESH_SECONDS = 1;
const MAX_REFRESH_SECONDS = 86_400;
const FIRST_RETRY_MS = 5_000;
/** The longest wait without word from the server: the retry cap, and a success without max-age. */
const UNGUIDED_MS = 60_000;
/** After max-age runs out: wait SETTLE_MS plus up to SPREAD_MS, picked per poll. */
const SETTLE_MS = 2_000;
const SPREAD_MS = 3_000;

/**
 * A fixed auto-refresh interval in seconds from `?refresh=<seconds>` in the page URL (tests use a
 * few seconds), or null: follow the API's max-age. Out-of-range or malformed values count as absent.
 */
export function refreshSecondsFrom(search: string): number | null {
  const raw = new URLSearchParams(search).get("refresh");
  if (raw === null || !/^\d+(\.\d+)?$/.test(raw)) return null;
  const seconds = Number(raw);
  return seconds >= MIN_REFRESH_SECONDS && seconds <= MAX_REFRESH_SECONDS ? seconds : null;
}

/** Delay before retry number `failures` (1-based), jittered by ±20 % and never above `capMs`. */
export function retryDelayMs(failures: number, capMs: number, random: () => number = Math.random): number {
  const first = Math.min(FIRST_RETRY_MS, capMs);
  const backoff = first * 2 ** Math.max(0, failures - 1);
  const jittered = backoff * (0.8 + 0.4 * random());
  return Math.min(capMs, Math.round(jittered));
}

export class RefreshSchedule {
  private failures = 0;
  private nextAt: number;

  /** `fixedIntervalMs`: poll at that interval (`?refresh=`); null: follow the API's max-age. */
  constructor(
    private readonly fixedIntervalMs: number | null,
    now: number,
    private readonly random: () => number = Math.random,
  ) {
    this.nextAt = now;
  }

  /** A good answer; `maxAgeSeconds` from its Cache-Control (null: the header had none). */
  succeeded(now: number, maxAgeSeconds: number | null): void {
    this.failures = 0;
    this.nextAt = now + this.delayAfterSuccess(maxAgeSeconds);
  }

  failed(now: number): void {
    this.failures += 1;
    this.nextAt = now + retryDelayMs(this.failures, this.fixedIntervalMs ?? UNGUIDED_MS, this.random);
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

  private delayAfterSuccess(maxAgeSeconds: number | null): number {
    if (this.fixedIntervalMs !== null) return this.fixedIntervalMs;
    if (maxAgeSeconds === null) return UNGUIDED_MS;
    return maxAgeSeconds * 1000 + SETTLE_MS + Math.round(SPREAD_MS * this.random());
  }
}

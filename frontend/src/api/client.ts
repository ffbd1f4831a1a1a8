// The typed client for the backend API. Types come from the backend's OpenAPI schema
// (src/api/schema.ts, generated); every failure becomes an ApiError with a message fit for a banner.

import type { HistoryRange } from "../lib/history-range";
import type { components, paths } from "./schema";

type JsonOf<P extends keyof paths> = paths[P]["get"]["responses"][200]["content"]["application/json"];

export type RatesList = JsonOf<"/api/v1/rates">;
export type History = JsonOf<"/api/v1/rates/{code}/history">;
/** The one error shape (RFC 9457) every documented 4xx/5xx of the API has. */
export type Problem = components["schemas"]["Problem"];

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export type ApiErrorKind = "network" | "timeout" | "http" | "invalid";

export class ApiError extends Error {
  constructor(
    readonly kind: ApiErrorKind,
    readonly status: number | null,
    readonly title: string,
    readonly detail: string,
  ) {
    super(`${title}: ${detail}`);
    this.name = "ApiError";
  }
}

/**
 * A conditional GET answer: new data with its ETag, or 304 (the snapshot we hold is current). Both
 * carry the answer's `Cache-Control: max-age` (seconds until the backend's next refresh), if any.
 */
export type Fetched<T> =
  | { kind: "fresh"; body: T; etag: string | null; maxAgeSeconds: number | null }
  | { kind: "not-modified"; maxAgeSeconds: number | null };

/** The `max-age` directive of a Cache-Control header in seconds, or null when there is none. */
export function maxAgeSeconds(cacheControl: string | null): number | null {
  const match = /(?:^|,)\s*max-age=(\d+)\s*(?:,|$)/i.exec(cacheControl ?? "");
  return match ? Number(match[1]) : null;
}

/**
 * The body's age and staleness as of this answer, not as of when it was built: a cached copy
 * (nginx's, standing in for a failing backend) keeps the `age_seconds` and `stale` it was built
 * with. The age is recomputed from `fetched_at` and the answer's `Date` (both server clocks, so the
 * browser's clock does not matter), and the data is stale past the answer's `stale-if-error`
 * (the backend's STALE_AFTER).
 */
export function asOfAnswer<T extends { fetched_at: string; age_seconds: number; stale: boolean }>(
  body: T,
  date: string | null,
  cacheControl: string | null,
): T {
  const answeredAt = Date.parse(date ?? "");
  const fetchedAt = Date.parse(body.fetched_at);
  if (Number.isNaN(answeredAt) || Number.isNaN(fetchedAt)) return body;
  const age = Math.max(body.age_seconds, Math.floor((answeredAt - fetchedAt) / 1000));
  const limit = /(?:^|,)\s*stale-if-error=(\d+)\s*(?:,|$)/i.exec(cacheControl ?? "");
  const stale = body.stale || (limit !== null && age > Number(limit[1]));
  return { ...body, age_seconds: age, stale };
}

/** The history's path and query; `format=csv` for the same points as CSV (a download link). */
export function historyPath(code: string, base: string, range: HistoryRange, format: "json" | "csv" = "json"): string {
  const query = new URLSearchParams({ base, range });
  if (format === "csv") query.set("format", "csv");
  return `/api/v1/rates/${encodeURIComponent(code)}/history?${query.toString()}`;
}

const DEFAULT_TIMEOUT_MS = 10_000;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

// A shallow check of what the app relies on, so a proxy's HTML page or a truncated body is
// reported as such instead of breaking the page later.
function isRatesList(body: unknown): body is RatesList {
  return (
    isObject(body) &&
    typeof body.fetched_at === "string" &&
    typeof body.stale === "boolean" &&
    typeof body.source === "string" &&
    Array.isArray(body.rates) &&
    body.rates.every(
      (r) => isObject(r) && typeof r.code === "string" && typeof r.value === "number" && r.value > 0,
    )
  );
}

function isHistory(body: unknown): body is History {
  return (
    isObject(body) &&
    Array.isArray(body.points) &&
    body.points.every((p) => isObject(p) && typeof p.t === "string" && typeof p.value === "number")
  );
}

function isProblem(body: unknown): body is Problem {
  return isObject(body) && typeof body.title === "string" && typeof body.detail === "string" && typeof body.status === "number";
}

async function problemFrom(response: Response): Promise<ApiError> {
  let title = `HTTP ${response.status}`;
  let detail = response.statusText || "The server answered with an error.";
  if ((response.headers.get("content-type") ?? "").includes("json")) {
    try {
      const body: unknown = await response.json();
      if (isProblem(body)) {
        title = body.title;
        detail = body.detail;
      }
    } catch {
      // Not the JSON it claimed to be: the status line is all we know.
    }
  }
  return new ApiError("http", response.status, title, detail);
}

export class ApiClient {
  constructor(
    private readonly fetchFn: FetchLike = (input, init) => fetch(input, init),
    private readonly baseUrl = "",
    private readonly timeoutMs = DEFAULT_TIMEOUT_MS,
  ) {}

  /** The full table (values per 1 BTC). With `etag`, an unchanged snapshot answers 304. */
  async rates(etag: string | null): Promise<Fetched<RatesList>> {
    const headers: Record<string, string> = { Accept: "application/json" };
    if (etag !== null) headers["If-None-Match"] = etag;
    const response = await this.get("/api/v1/rates", headers);
    const cacheControl = response.headers.get("cache-control");
    const maxAge = maxAgeSeconds(cacheControl);
    if (response.status === 304) return { kind: "not-modified", maxAgeSeconds: maxAge };
    const body = await this.json(response);
    if (!isRatesList(body)) throw this.invalid("The rates response does not have the expected shape.");
    const honest = asOfAnswer(body, response.headers.get("date"), cacheControl);
    return { kind: "fresh", body: honest, etag: response.headers.get("etag"), maxAgeSeconds: maxAge };
  }

  /** The recorded series of `code` over `range`, in units of `code` per 1 `base`. */
  async history(code: string, base: string, range: HistoryRange): Promise<History> {
    const body = await this.json(await this.get(historyPath(code, base, range), { Accept: "application/json" }));
    if (!isHistory(body)) throw this.invalid("The history response does not have the expected shape.");
    return body;
  }

  private async get(path: string, headers: Record<string, string>): Promise<Response> {
    let response: Response;
    try {
      // no-store: we revalidate ourselves with If-None-Match and want to see the 304.
      response = await this.fetchFn(`${this.baseUrl}${path}`, {
        headers,
        cache: "no-store",
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      if (error instanceof DOMException && error.name === "TimeoutError") {
        throw new ApiError(
          "timeout",
          null,
          "The API did not answer",
          `No response within ${this.timeoutMs / 1000} s.`,
        );
      }
      throw new ApiError("network", null, "The API cannot be reached", "Check your connection.");
    }
    if (response.status === 304 || response.ok) return response;
    throw await problemFrom(response);
  }

  private async json(response: Response): Promise<unknown> {
    try {
      return await response.json();
    } catch {
      throw this.invalid("The response is not valid JSON.");
    }
  }

  private invalid(detail: string): ApiError {
    return new ApiError("invalid", null, "Unexpected answer from the API", detail);
  }
}

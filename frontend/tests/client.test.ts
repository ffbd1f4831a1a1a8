// The API client against a real HTTP server on 127.0.0.1 (node:http), using Node's own fetch.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ApiClient, ApiError, historyPath } from "../src/api/client";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const RATES = {
  base: "btc",
  fetched_at: "2026-11-26T09:00:00Z",
  age_seconds: 12,
  stale: false,
  source: "coingecko",
  count: 1,
  rates: [{ code: "usd", name: "US Dollar", unit: "$", type: "fiat", value: 41819.856 }],
};

let server: Server | null = null;

// A generous timeout for a loaded CI machine; only the timeout test itself uses a short one.
async function serve(handler: Handler, timeoutMs = 5000): Promise<{ client: ApiClient; requests: IncomingMessage[] }> {
  const requests: IncomingMessage[] = [];
  server = createServer((req, res) => {
    requests.push(req);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { client: new ApiClient(undefined, `http://127.0.0.1:${port}`, timeoutMs), requests };
}

afterEach(async () => {
  const running = server;
  if (running === null) return; // a test without a server
  running.closeAllConnections();
  await new Promise((resolve) => running.close(resolve));
  server = null;
});

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(typeof body === "string" ? body : JSON.stringify(body));
}

async function failure(promise: Promise<unknown>): Promise<ApiError> {
  const error: unknown = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ApiError);
  return error as ApiError;
}

describe("ApiClient.rates", () => {
  it("returns the body and its ETag, then 304 when the ETag is still current", async () => {
    const etag = 'W/"v1-abc"';
    const { client, requests } = await serve((req, res) => {
      if (req.headers["if-none-match"] === etag) {
        res.writeHead(304, { etag });
        res.end();
      } else {
        // Answered when the body was built (age_seconds after fetched_at), as the backend does.
        const date = new Date(Date.parse(RATES.fetched_at) + RATES.age_seconds * 1000).toUTCString();
        json(res, 200, RATES, { etag, date });
      }
    });
    const first = await client.rates(null);
    expect(first).toEqual({ kind: "fresh", body: RATES, etag, maxAgeSeconds: null });
    expect(requests[0]?.headers["if-none-match"]).toBeUndefined();
    expect(requests[0]?.url).toBe("/api/v1/rates");

    expect(await client.rates(etag)).toEqual({ kind: "not-modified", maxAgeSeconds: null });
    expect(requests[1]?.headers["if-none-match"]).toBe(etag);
  });

  it("reports the answer's max-age, on 200 and on 304, for the refresh schedule", async () => {
    const cacheControl = "public, max-age=117, stale-if-error=600";
    const { client } = await serve((req, res) => {
      if (req.headers["if-none-match"] === 'W/"v1"') {
        res.writeHead(304, { etag: 'W/"v1"', "cache-control": cacheControl });
        res.end();
      } else {
        json(res, 200, RATES, { etag: 'W/"v1"', "cache-control": cacheControl });
      }
    });
    expect((await client.rates(null)).maxAgeSeconds).toBe(117);
    expect(await client.rates('W/"v1"')).toEqual({ kind: "not-modified", maxAgeSeconds: 117 });
  });

  it("returns new data when the server's ETag moved on", async () => {
    const { client } = await serve((_req, res) => {
      json(res, 200, { ...RATES, stale: true }, { etag: 'W/"v2"' });
    });
    const answer = await client.rates('W/"v1"');
    expect(answer.kind).toBe("fresh");
    if (answer.kind === "fresh") {
      expect(answer.etag).toBe('W/"v2"');
      expect(answer.body.stale).toBe(true);
    }
  });

  it("maps a problem+json error to its title and detail", async () => {
    const { client } = await serve((_req, res) => {
      res.writeHead(503, { "content-type": "application/problem+json", "retry-after": "5" });
      res.end(JSON.stringify({ type: "about:blank", title: "Service Unavailable", status: 503, detail: "no exchange-rate data yet" }));
    });
    const error = await failure(client.rates(null));
    expect(error).toMatchObject({ kind: "http", status: 503, title: "Service Unavailable", detail: "no exchange-rate data yet" });
  });

  it("maps a non-JSON error page to its status", async () => {
    const { client } = await serve((_req, res) => {
      res.writeHead(502, "Bad Gateway", { "content-type": "text/html" });
      res.end("<html><body>Bad gateway</body></html>");
    });
    expect(await failure(client.rates(null))).toMatchObject({ kind: "http", status: 502, title: "HTTP 502", detail: "Bad Gateway" });
  });

  it("reports a 200 that is not JSON, or not the expected shape", async () => {
    let body: unknown = "<html>captive portal</html>";
    const { client } = await serve((_req, res) => {
      json(res, 200, body);
    });
    expect(await failure(client.rates(null))).toMatchObject({ kind: "invalid", detail: "The response is not valid JSON." });
    body = { ...RATES, rates: [{ code: "usd", value: -1 }] };
    expect(await failure(client.rates(null))).toMatchObject({ kind: "invalid", detail: expect.stringMatching(/expected shape/) as unknown });
    body = { rates: "nope" };
    expect((await failure(client.rates(null))).kind).toBe("invalid");
  });

  it("reports a server that does not answer in time", async () => {
    const { client } = await serve(() => {
      // never answers
    }, 300);
    expect(await failure(client.rates(null))).toMatchObject({ kind: "timeout", title: "The API did not answer" });
  });

  it("reports a server that cannot be reached", async () => {
    const { client } = await serve(() => undefined);
    server?.close();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await failure(client.rates(null))).toMatchObject({ kind: "network", status: null, title: "The API cannot be reached" });
  });
});

describe("ApiClient.history", () => {
  it("asks for the code in the chosen base and range and returns the points", async () => {
    const history = { code: "usd", base: "eur", count: 2, points: [{ t: "2026-11-26T09:00:00Z", value: 1.07 }, { t: "2026-11-26T09:05:00Z", value: 1.08 }] };
    const { client, requests } = await serve((_req, res) => {
      json(res, 200, history);
    });
    expect(await client.history("usd", "eur", "7d")).toEqual(history);
    expect(requests[0]?.url).toBe("/api/v1/rates/usd/history?base=eur&range=7d");
  });

  it("names the CSV form of the same series for the download link", () => {
    expect(historyPath("usd", "eur", "1y", "csv")).toBe("/api/v1/rates/usd/history?base=eur&range=1y&format=csv");
    expect(historyPath("usd", "eur", "1y")).toBe("/api/v1/rates/usd/history?base=eur&range=1y");
    expect(historyPath("a/b", "c&d", "24h")).toBe("/api/v1/rates/a%2Fb/history?base=c%26d&range=24h");
  });

  it("maps an unknown code's 404 problem", async () => {
    const { client } = await serve((_req, res) => {
      res.writeHead(404, { "content-type": "application/problem+json" });
      res.end(JSON.stringify({ title: "Not Found", status: 404, detail: "unknown code 'zzz'" }));
    });
    expect(await failure(client.history("zzz", "btc", "24h"))).toMatchObject({ status: 404, detail: "unknown code 'zzz'" });
  });
});

import { describe, expect, it } from "vitest";
import {
  DEFAULT_VIEW,
  STORAGE_KEY,
  loadViewState,
  saveViewState,
  toQuery,
  type KeyValueStore,
} from "../src/lib/view-state";

function memoryStore(initial: Record<string, string> = {}): KeyValueStore & { data: Map<string, string> } {
  const data = new Map(Object.entries(initial));
  return {
    data,
    getItem: (key) => data.get(key) ?? null,
    setItem: (key, value) => {
      data.set(key, value);
    },
  };
}

const broken: KeyValueStore = {
  getItem: () => {
    throw new Error("SecurityError");
  },
  setItem: () => {
    throw new Error("QuotaExceededError");
  },
};

describe("loadViewState", () => {
  it("starts from the defaults", () => {
    expect(loadViewState("", memoryStore())).toEqual(DEFAULT_VIEW);
    expect(DEFAULT_VIEW).toMatchObject({ base: "btc", quote: "usd", type: "all", sort: "value", dir: "asc" });
  });

  it("restores what was saved", () => {
    const store = memoryStore();
    const chosen = { ...DEFAULT_VIEW, base: "eur", type: "crypto" as const, q: "coin", sort: "name" as const, dir: "desc" as const };
    saveViewState(chosen, store);
    expect(loadViewState("", store)).toEqual(chosen);
  });

  it("lets the URL win over storage", () => {
    const store = memoryStore({ [STORAGE_KEY]: JSON.stringify({ base: "eur", type: "fiat" }) });
    expect(loadViewState("?base=JPY&sort=code", store)).toMatchObject({ base: "jpy", type: "fiat", sort: "code" });
  });

  it("ignores malformed values, keeping the defaults", () => {
    const state = loadViewState("?base=%3Cscript%3E&type=metal&sort=price&dir=up&quote=&range=2w", memoryStore());
    expect(state).toEqual(DEFAULT_VIEW);
  });

  it("keeps the chart's range, one of the four the page offers", () => {
    expect(DEFAULT_VIEW.range).toBe("24h");
    expect(loadViewState("?range=1y", memoryStore()).range).toBe("1y");
    expect(loadViewState("", memoryStore({ [STORAGE_KEY]: JSON.stringify({ range: "30d" }) })).range).toBe("30d");
    // The API knows 90d and max, but the page has no button for them.
    expect(loadViewState("?range=90d", memoryStore()).range).toBe("24h");
    expect(loadViewState("?range=max", memoryStore()).range).toBe("24h");
  });

  it("caps the search text", () => {
    expect(loadViewState(`?q=${"a".repeat(500)}`, memoryStore()).q).toHaveLength(64);
  });

  it("survives corrupt or unavailable storage", () => {
    expect(loadViewState("", memoryStore({ [STORAGE_KEY]: "{not json" }))).toEqual(DEFAULT_VIEW);
    expect(loadViewState("", memoryStore({ [STORAGE_KEY]: "42" }))).toEqual(DEFAULT_VIEW);
    expect(loadViewState("?type=fiat", broken).type).toBe("fiat");
    expect(() => {
      saveViewState(DEFAULT_VIEW, broken);
    }).not.toThrow();
  });
});

describe("toQuery", () => {
  it("is empty for the defaults", () => {
    expect(toQuery(DEFAULT_VIEW, "")).toBe("");
  });

  it("writes only what differs from the default and keeps foreign parameters", () => {
    const query = toQuery({ ...DEFAULT_VIEW, base: "usd", q: "dollar", range: "30d" }, "?refresh=5&base=eur&type=all&range=7d");
    expect(new URLSearchParams(query)).toEqual(new URLSearchParams("refresh=5&base=usd&range=30d&q=dollar"));
  });

  it("round-trips through loadViewState", () => {
    const state = { ...DEFAULT_VIEW, base: "xau", type: "commodity" as const, q: "gold", sort: "unit" as const, dir: "desc" as const, chart: "eth", range: "7d" as const };
    expect(loadViewState(toQuery(state, ""), memoryStore())).toEqual(state);
  });
});

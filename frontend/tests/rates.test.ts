// Expected values are computed by hand from the fixture (values are units per 1 BTC):
// usd 41819.856, eth 18.801, eur 38787.833, xau 21.06, jpy 6083576.315, gbp 33332.307, sats 1e8.
import { describe, expect, it } from "vitest";
import { convert, countByType, parseAmount, rebase, selectRows } from "../src/lib/rates";
import { FIXTURE_RATES, rate } from "./fixture";

const valueIn = (base: string, code: string) => rebase(FIXTURE_RATES, base).find((r) => r.code === code)?.value;

describe("rebase (cross rates)", () => {
  it("keeps upstream values for base btc", () => {
    expect(valueIn("btc", "usd")).toBe(41819.856);
  });

  it("gives units per 1 base", () => {
    expect(valueIn("usd", "eth")).toBeCloseTo(18.801 / 41819.856, 15); // 0.00044957...
    expect(valueIn("eur", "usd")).toBeCloseTo(1.0781694352, 9);
    expect(valueIn("xau", "usd")).toBeCloseTo(1985.7481481, 6);
    expect(valueIn("usd", "sats")).toBeCloseTo(2391.2086163, 6);
    expect(valueIn("usd", "usd")).toBe(1);
  });

  it("uses the API's per-BTC values as they are for base btc", () => {
    const scaled = FIXTURE_RATES.map((r) => ({ ...r, value: r.value * 2 })); // btc row 2: never divided by
    expect(rebase(scaled, "btc").find((r) => r.code === "usd")?.value).toBe(83639.712);
  });

  it("refuses an unknown base", () => {
    expect(() => rebase(FIXTURE_RATES, "xyz")).toThrow(/unknown base currency "xyz"/);
  });
});

describe("convert", () => {
  it("converts with the ratio of the two per-BTC values", () => {
    expect(convert(1, rate("eth"), rate("usd"))).toBeCloseTo(2224.3421094, 6);
    expect(convert(2.5, rate("eth"), rate("usd"))).toBeCloseTo(5560.8552736, 6);
    expect(convert(1000, rate("jpy"), rate("gbp"))).toBeCloseTo(5.4790645, 6);
  });

  it("round-trips", () => {
    const there = convert(123.45, rate("eur"), rate("sats"));
    expect(convert(there, rate("sats"), rate("eur"))).toBeCloseTo(123.45, 9);
  });
});

describe("parseAmount", () => {
  it.each([
    ["2.5", 2.5],
    ["  2.5 ", 2.5],
    ["2,5", 2.5],
    ["1,000", 1000],
    ["1,000.5", 1000.5],
    ["1 000 000", 1e6],
    [".5", 0.5],
    ["1e3", 1000],
    ["1000000000000000", 1e15],
  ])("accepts %j as %d", (text, value) => {
    expect(parseAmount(text)).toEqual({ ok: true, value });
  });

  it.each([
    ["", /Enter an amount/],
    ["   ", /Enter an amount/],
    ["abc", /"abc" is not a number/],
    ["NaN", /not a number/],
    ["Infinity", /not a number/],
    ["1.2.3", /not a number/],
    ["0x10", /not a number/],
    ["0", /greater than zero/],
    ["-3", /greater than zero/],
    ["1e16", /too large/],
    ["1e400", /too large/],
  ])("rejects %j with a message", (text, message) => {
    const parsed = parseAmount(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.message).toMatch(message);
  });
});

describe("selectRows", () => {
  const all = { type: "all", q: "", sort: "code", dir: "asc" } as const;

  it("returns all 61 units", () => {
    expect(selectRows(FIXTURE_RATES, all)).toHaveLength(61);
  });

  it("filters by type", () => {
    expect(countByType(FIXTURE_RATES)).toEqual({ all: 61, fiat: 46, crypto: 13, commodity: 2 });
    const commodities = selectRows(FIXTURE_RATES, { ...all, type: "commodity" });
    expect(commodities.map((r) => r.code)).toEqual(["xag", "xau"]);
  });

  it("searches code and name, case-insensitively", () => {
    const dollars = selectRows(FIXTURE_RATES, { ...all, q: "DOLLAR" }).map((r) => r.code);
    expect(dollars).toEqual(["aud", "bmd", "cad", "hkd", "nzd", "sgd", "twd", "usd"]);
    expect(selectRows(FIXTURE_RATES, { ...all, q: "xa" }).map((r) => r.code)).toEqual(["xag", "xau"]);
  });

  it("sorts by value both ways, and by name", () => {
    const asc = selectRows(FIXTURE_RATES, { ...all, sort: "value" }).map((r) => r.code);
    expect(asc.slice(0, 3)).toEqual(["btc", "yfi", "eth"]);
    const desc = selectRows(FIXTURE_RATES, { ...all, sort: "value", dir: "desc" }).map((r) => r.code);
    expect(desc.slice(0, 3)).toEqual(["vnd", "idr", "sats"]);
    const names = selectRows(FIXTURE_RATES, { ...all, sort: "name" }).map((r) => r.name);
    expect(names[0]).toBe("Argentine Peso");
    expect(names.at(-1)).toBe("Yearn.finance");
  });

  it("breaks ties by code so equal values keep a stable order", () => {
    const byValue = selectRows(FIXTURE_RATES, { ...all, sort: "value" }).map((r) => r.code);
    expect(byValue.indexOf("bmd")).toBe(byValue.indexOf("usd") - 1); // both 41819.856
  });
});

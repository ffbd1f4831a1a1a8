import { describe, expect, it } from "vitest";
import { formatAge, formatAmount, formatCountdown, formatValue } from "../src/lib/format";

describe("formatValue", () => {
  it.each([
    [1e9, "1,000,000,000.00"],
    [41819.856, "41,819.86"],
    [1, "1.00"],
    [0.00002, "0.00002"],
    [0.0004495711319522477, "0.0004496"],
    [0.5, "0.5"],
    [0, "0"],
    [9.85297372802505e-10, "9.853E-10"],
    [2.5e15, "2.5E15"],
  ])("formats %d as %s", (value, text) => {
    expect(formatValue(value, "en-US")).toBe(text);
  });

  it("uses the locale's separators", () => {
    expect(formatValue(1234567.891, "de-DE")).toBe("1.234.567,89");
  });

  it("never shows NaN or Infinity", () => {
    expect(formatValue(Number.NaN, "en-US")).toBe("—");
    expect(formatValue(Number.POSITIVE_INFINITY, "en-US")).toBe("—");
  });
});

describe("formatAmount", () => {
  it.each([
    [1, "1"],
    [2.5, "2.5"],
    [1234.5, "1,234.5"],
    [0.0001, "0.0001"],
  ])("formats %d as %s", (value, text) => {
    expect(formatAmount(value, "en-US")).toBe(text);
  });
});

describe("formatAge", () => {
  it.each([
    [0, "just now"],
    [4.9, "just now"],
    [42, "42 s ago"],
    [120, "2 min ago"],
    [3599, "59 min ago"],
    [3 * 3600, "3 h ago"],
    [3 * 86400, "3 days ago"],
    [-5, "just now"],
  ])("formats %d s as %s", (seconds, text) => {
    expect(formatAge(seconds)).toBe(text);
  });
});

describe("formatCountdown", () => {
  it.each([
    [245, "4:05"],
    [0.2, "0:01"],
    [0, "0:00"],
    [300, "5:00"],
    [3723, "1:02:03"],
  ])("formats %d s as %s", (seconds, text) => {
    expect(formatCountdown(seconds)).toBe(text);
  });
});

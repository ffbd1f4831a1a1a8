import { describe, expect, it } from "vitest";
import { maxAgeSeconds } from "../src/api/client";

describe("maxAgeSeconds", () => {
  it.each([
    ["public, max-age=117, stale-if-error=600", 117],
    ["max-age=0", 0],
    ["Public,Max-Age=5", 5],
    ["no-store", null],
    ["public, s-maxage=30", null],
    ["max-age=abc", null],
    [null, null],
  ])("reads %s as %s", (header, expected) => {
    expect(maxAgeSeconds(header)).toBe(expected);
  });
});

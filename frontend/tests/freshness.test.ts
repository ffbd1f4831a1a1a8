import { describe, expect, it } from "vitest";
import { asOfAnswer } from "../src/api/client";

const built = { fetched_at: "2026-12-04T03:00:00Z", age_seconds: 4, stale: false };

describe("asOfAnswer", () => {
  it("recomputes the age of a cached copy from fetched_at and the answer's Date", () => {
    const honest = asOfAnswer(built, "Fri, 04 Dec 2026 04:00:00 GMT", "public, max-age=1, stale-if-error=600");
    expect(honest.age_seconds).toBe(3600);
    expect(honest.stale).toBe(true); // an hour is past stale-if-error=600
  });

  it("keeps a fresh answer fresh", () => {
    const honest = asOfAnswer(built, "Fri, 04 Dec 2026 03:00:05 GMT", "public, max-age=295, stale-if-error=600");
    expect(honest).toEqual({ ...built, age_seconds: 5 });
  });

  it("never makes data younger or fresher than the body says", () => {
    const stale = { ...built, age_seconds: 900, stale: true };
    expect(asOfAnswer(stale, "Fri, 04 Dec 2026 03:00:05 GMT", null)).toEqual(stale);
  });

  it.each([null, "not a date"])("leaves the body as built without a usable Date (%s)", (date) => {
    expect(asOfAnswer(built, date, "stale-if-error=1")).toEqual(built);
  });
});

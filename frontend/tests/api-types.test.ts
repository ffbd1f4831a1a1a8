// Type-level checks of the generated API types (src/api/schema.ts): `tsc` (make lint) fails if
// they stop holding; vitest runs the assertions as no-ops.
import { describe, expectTypeOf, it } from "vitest";
import type { History, Problem } from "../src/api/client";
import type { components, paths } from "../src/api/schema";

type Responses<P extends keyof paths> = paths[P]["get"]["responses"];
type ProblemBodyOf<R> = R extends { content: { "application/problem+json": infer B } } ? B : never;
/** Every problem+json body documented anywhere in the API, as one union. */
type EveryProblemBody = {
  [P in keyof paths]: { [S in keyof Responses<P>]: ProblemBodyOf<Responses<P>[S]> }[keyof Responses<P>];
}[keyof paths];

describe("generated API types", () => {
  it("types every documented error as the one shared Problem component", () => {
    expectTypeOf<Problem>().toEqualTypeOf<components["schemas"]["Problem"]>();
    expectTypeOf<EveryProblemBody>().not.toBeNever();
    expectTypeOf<EveryProblemBody>().toEqualTypeOf<Problem>();
    expectTypeOf<ProblemBodyOf<Responses<"/api/v1/convert">[422]>>().toEqualTypeOf<Problem>();
    expectTypeOf<ProblemBodyOf<Responses<"/api/v1/rates">[503]>>().toEqualTypeOf<Problem>();
    expectTypeOf<ProblemBodyOf<Responses<"/api/v1/rates/{code}">[404]>>().toEqualTypeOf<Problem>();
  });

  it("gives history the freshness envelope and the shared enums", () => {
    expectTypeOf<History["source"]>().toEqualTypeOf<components["schemas"]["Source"]>();
    expectTypeOf<History["stale"]>().toEqualTypeOf<boolean>();
    expectTypeOf<History["age_seconds"]>().toEqualTypeOf<number>();
    type ListRow = Responses<"/api/v1/rates">[200]["content"]["application/json"]["rates"][number];
    expectTypeOf<ListRow["type"]>().toEqualTypeOf<components["schemas"]["RateType"]>();
  });
});

import { describe, expect, it } from "vitest";
import { ArmRole } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { bracketingBaselines } from "./bracketing-baselines.ts";

const { OPENING_BASELINE: O, INTERIM_BASELINE: I, CLOSING_BASELINE: C, LEADER: L, CHALLENGER: X } = ArmRole;

describe("bracketingBaselines", () => {
  const cases: { name: string; roles: ArmRole[]; expected: ([number, number] | undefined)[] }[] = [
    {
      name: "one block: every arm between the two bookends, the closing one against the opening",
      roles: [O, L, X, C],
      expected: [undefined, [0, 3], [0, 3], [0, 3]],
    },
    {
      name: "interleaved: each arm against the baselines around its block; an interim one closes the block before it",
      roles: [O, L, X, I, X, L, C],
      expected: [undefined, [0, 3], [0, 3], [0, 3], [3, 6], [3, 6], [3, 6]],
    },
    {
      name: "no closing baseline: the arms after the last baseline get none",
      roles: [O, X],
      expected: [undefined, undefined],
    },
  ];
  it.each(cases)("$name", ({ roles, expected }) => {
    expect(bracketingBaselines(roles).map((b) => (b ? [b.opening, b.closing] : undefined))).toEqual(expected);
  });
});

import { describe, expect, it } from "vitest";
import { seededRandom } from "../../shared/stats/seeded-random.ts";
import { crossingProbability, spendingBoundaries } from "./group-sequential.ts";
import { normalOf } from "./noise-simulation.ts";

describe("spendingBoundaries", () => {
  it("matches published Hwang-Shih-DeCani boundaries (gsDesign sfHSD, gamma -4, 3 looks, one-sided 0.025)", () => {
    const b = spendingBoundaries({ looks: 3, rate: 0.025, gamma: -4 });
    expect(b[0]).toBeCloseTo(3.0107, 3);
    expect(b[1]).toBeCloseTo(2.5465, 3);
    expect(b[2]).toBeCloseTo(1.9992, 3);
  });

  it("is the fixed-sample quantile for one look", () => {
    expect(spendingBoundaries({ looks: 1, rate: 0.025, gamma: -4 })[0]).toBeCloseTo(1.959964, 5);
    expect(spendingBoundaries({ looks: 1, rate: 0.05, gamma: 1 })[0]).toBeCloseTo(1.644854, 5);
  });

  it("spends exactly the rate over all looks, whatever the shape", () => {
    for (const gamma of [-4, -2, 0, 1]) {
      for (const looks of [2, 4, 6]) {
        const b = spendingBoundaries({ looks, rate: 0.025, gamma });
        expect(crossingProbability(b)).toBeCloseTo(0.025, 5);
      }
    }
  });

  it("spends late with a low gamma and early with a high one", () => {
    const late = spendingBoundaries({ looks: 4, rate: 0.025, gamma: -4 });
    const even = spendingBoundaries({ looks: 4, rate: 0.025, gamma: 1 });
    expect(late[0]).toBeGreaterThan(even[0] as number);
    expect(late[3]).toBeLessThan(even[3] as number);
    // Decreasing boundaries for the O'Brien-Fleming-like shape.
    for (let k = 1; k < late.length; k++) expect(late[k]).toBeLessThan(late[k - 1] as number);
  });

  it("refuses bad options with a clear error", () => {
    expect(() => spendingBoundaries({ looks: 0, rate: 0.025, gamma: -4 })).toThrow(/looks/);
    expect(() => spendingBoundaries({ looks: 3.5, rate: 0.025, gamma: -4 })).toThrow(/looks/);
    expect(() => spendingBoundaries({ looks: 3, rate: 0.5, gamma: -4 })).toThrow(/rate/);
    expect(() => spendingBoundaries({ looks: 3, rate: 0, gamma: -4 })).toThrow(/rate/);
    expect(() => spendingBoundaries({ looks: 3, rate: 0.025, gamma: Number.NaN })).toThrow(/gamma/);
  });
});

describe("crossingProbability", () => {
  it("reproduces Pocock's and O'Brien-Fleming's published constants (one-sided 0.025)", () => {
    expect(crossingProbability([2.178, 2.178])).toBeCloseTo(0.025, 3);
    expect(crossingProbability(Array(5).fill(2.413))).toBeCloseTo(0.025, 3);
    expect(crossingProbability([4.562, 3.226, 2.634, 2.281, 2.04])).toBeCloseTo(0.025, 3);
  });

  it("agrees with a Monte Carlo of the standardised sums, also under an alternative", () => {
    const b = spendingBoundaries({ looks: 4, rate: 0.025, gamma: -2 });
    const normal = normalOf(seededRandom("0d", "group-sequential-test"));
    for (const drift of [0, 1]) {
      let crossed = 0;
      const runs = 40_000;
      for (let r = 0; r < runs; r++) {
        let sum = 0;
        for (let k = 1; k <= 4; k++) {
          sum += drift + normal();
          if (sum / Math.sqrt(k) >= (b[k - 1] as number)) {
            crossed += 1;
            break;
          }
        }
      }
      const expected = crossingProbability(b, drift);
      const se = Math.sqrt((expected * (1 - expected)) / runs);
      expect(Math.abs(crossed / runs - expected)).toBeLessThan(4 * se);
    }
  });
});

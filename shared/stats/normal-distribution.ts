/** Density of the standard normal distribution at x. */
export function normalDensity(x: number): number {
  return Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
}

/**
 * P(Z > x) for a standard normal Z, to double precision in both tails (see erfc below), so
 * boundaries that spend 1e-6 of an error rate are computed as exactly as 0.025.
 */
export function normalUpperTail(x: number): number {
  return 0.5 * erfc(x / Math.SQRT2);
}

/** P(Z <= x) for a standard normal Z (the lower tail as precise as the upper). */
export function normalCdf(x: number): number {
  return x < 0 ? normalUpperTail(-x) : 1 - normalUpperTail(x);
}

/**
 * The x with P(Z <= x) = p (Acklam's rational approximation, refined by one Halley step: about
 * 1e-15 relative). Throws a RangeError outside (0, 1).
 */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`normalQuantile needs 0 < p < 1, got ${p}`);
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  let x: number;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    x = poly(c, q) / (poly(d, q) * q + 1);
  } else if (p <= 1 - low) {
    const q = p - 0.5;
    const r = q * q;
    x = (poly(a, r) * q) / (poly(b, r) * r + 1);
  } else {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    x = -poly(c, q) / (poly(d, q) * q + 1);
  }
  // One Halley step against the accurate CDF.
  const e = normalCdf(x) - p;
  const u = e * Math.sqrt(2 * Math.PI) * Math.exp(0.5 * x * x);
  return x - u / (1 + 0.5 * x * u);
}

// Horner's rule for coefficients given highest power first.
function poly(coefficients: readonly number[], x: number): number {
  let sum = 0;
  for (const k of coefficients) sum = sum * x + k;
  return sum;
}

/**
 * Complementary error function: the series for small |x|, Lentz's continued fraction for the
 * tail (both to double precision).
 */
function erfc(x: number): number {
  if (x < 0) return 2 - erfc(-x);
  if (x < 2) {
    // erf by its Taylor series: sum (-1)^n x^(2n+1) / (n! (2n+1)), times 2/sqrt(pi).
    let term = x;
    let sum = x;
    const x2 = x * x;
    for (let n = 1; n < 100; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...)))), by modified Lentz.
  const tiny = 1e-300;
  let f = x;
  let cc = x;
  let dd = 0;
  for (let n = 1; n < 500; n++) {
    const an = n / 2;
    dd = x + an * dd;
    dd = Math.abs(dd) < tiny ? tiny : dd;
    cc = x + an / cc;
    cc = Math.abs(cc) < tiny ? tiny : cc;
    dd = 1 / dd;
    const delta = cc * dd;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / (Math.sqrt(Math.PI) * f);
}

// exp and log of the engine's own, from IEEE 754 basic operations only (+ − ×
// ÷ and comparisons; no Math.exp/Math.log/Math.pow), so that the same input
// gives the same bits on every architecture. Math.exp and Math.log are the C
// library's: glibc computes them with fused multiply-adds on aarch64 and
// without on x86-64, and their last bit can differ, which once moved a hold's
// expiry by one sample between an arm64 and an x86-64 replay (docs/edge.md,
// "Cross-arch determinism"). JavaScript forbids contracting a*b+c into an FMA,
// so the code below rounds the same way everywhere.
//
// The algorithms are fdlibm's e_exp.c and e_log.c (Sun Microsystems, 1993,
// freely redistributable), error < 1 ulp, transcribed with their constants;
// fdlibm reads and writes the exponent bits of a double, which is done here
// with exact multiplications by powers of two from a table built by doubling.

/**
 * 2^e for e in [-1074, 1023], exactly: POW2[e + 1074]. Built once, by halving
 * and doubling, both exact; never written afterwards (a constant table, not
 * state: a frozen Array would be slower to read).
 */
const POW2: Float64Array = (() => {
  const t = new Float64Array(2098);
  t[1074] = 1;
  for (let e = 1; e <= 1023; e++) t[1074 + e] = t[1073 + e]! * 2;
  for (let e = 1; e <= 1074; e++) t[1074 - e] = t[1075 - e]! / 2;
  return t;
})();

/** 2^e, exact, for e in [-1074, 1023]. */
function pow2(e: number): number {
  return POW2[e + 1074]!;
}

const LN2_HI = 6.93147180369123816490e-1; // 0x3fe62e42 fee00000: k·LN2_HI is exact for |k| < 2^11
const LN2_LO = 1.90821492927058770002e-10; // 0x3dea39ef 35793c76
const INV_LN2 = 1.44269504088896338700e0; // 0x3ff71547 652b82fe
const EXP_OVERFLOW = 7.09782712893383973096e2; // 0x40862e42 fefa39ef: above it exp(x) > MAX_VALUE
const EXP_UNDERFLOW = -7.45133219101941108420e2; // 0xc0874910 d52d3051: below it exp(x) < MIN_VALUE / 2
const P1 = 1.66666666666666019037e-1;
const P2 = -2.77777777770155933842e-3;
const P3 = 6.61375632143793436117e-5;
const P4 = -1.65339022054652515390e-6;
const P5 = 4.13813679705723846039e-8;

/** e^x, within 1 ulp, the same bits on every architecture (fdlibm's e_exp.c). */
export function exp(x: number): number {
  if (x !== x) return x; // NaN
  if (x > EXP_OVERFLOW) return Infinity;
  if (x < EXP_UNDERFLOW) return 0;
  const ax = x < 0 ? -x : x;
  let hi = 0;
  let lo = 0;
  let k = 0;
  let r = x;
  if (ax > 0.5 * LN2_HI + 0.5 * LN2_LO) {
    // x = k·ln2 + r, |r| ≤ ln2/2, r as hi − lo to keep its low bits.
    if (ax < 1.5 * LN2_HI) {
      k = x < 0 ? -1 : 1;
      hi = x - k * LN2_HI;
      lo = k * LN2_LO;
    } else {
      k = Math.trunc(INV_LN2 * x + (x < 0 ? -0.5 : 0.5));
      hi = x - k * LN2_HI;
      lo = k * LN2_LO;
    }
    r = hi - lo;
  } else if (ax < 3.725290298461914e-9) {
    // |x| < 2^-28: 1 + x is exp(x) rounded.
    return 1 + x;
  }
  // exp(r) = 1 + 2r/(2 − R(r)), R a minimax polynomial in r² on [0, 0.347].
  const t = r * r;
  const c = r - t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5))));
  if (k === 0) return 1 - ((r * c) / (c - 2) - r);
  const y = 1 - (lo - (r * c) / (2 - c) - hi);
  // y·2^k: exact while the result is normal; one rounding below, as fdlibm.
  if (k > 1023) return y * 2 * pow2(k - 1);
  if (k >= -1021) return y * pow2(k);
  return y * pow2(k + 1000) * pow2(-1000);
}

const LG1 = 6.666666666666735130e-1;
const LG2 = 3.999999999940941908e-1;
const LG3 = 2.857142874366239149e-1;
const LG4 = 2.222219843214978396e-1;
const LG5 = 1.818357216161805012e-1;
const LG6 = 1.531383769920937332e-1;
const LG7 = 1.479819860511658591e-1;
const TWO54 = 1.8014398509481984e16;
const MIN_NORMAL = 2.2250738585072014e-308;

/** ln x, within 1 ulp, the same bits on every architecture (fdlibm's e_log.c). */
export function log(x: number): number {
  if (x !== x || x < 0) return NaN;
  if (x === 0) return -Infinity;
  if (x === Infinity) return x;
  let k = 0;
  if (x < MIN_NORMAL) {
    k = -54;
    x *= TWO54; // subnormal: scale up, exactly
  }
  // x = 2^e·m, m in [1, 2): e by binary search among the powers of two.
  let lo = -1022;
  let hi = 1023;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (x >= pow2(mid)) lo = mid;
    else hi = mid - 1;
  }
  k += lo;
  let m = x * pow2(-lo);
  // fdlibm's hx: the 20 high bits of m's fraction, exactly ((m − 1)·2^20 is exact).
  const hx = Math.floor((m - 1) * 1048576);
  // Normalise m into [√2/2, √2): halve it when its fraction is above ~0.4142.
  const i = (hx + 0x95f64) & 0x100000;
  if (i !== 0) {
    m = m / 2;
    k += 1;
  }
  const f = m - 1;
  const dk = k;
  if ((0x000fffff & (2 + hx)) < 3) {
    // −2^-20 ≤ f < 2^-20
    if (f === 0) return k === 0 ? 0 : dk * LN2_HI + dk * LN2_LO;
    const R = f * f * (0.5 - 0.33333333333333333 * f);
    return k === 0 ? f - R : dk * LN2_HI - (R - dk * LN2_LO - f);
  }
  const s = f / (2 + f);
  const z = s * s;
  const w = z * z;
  const t1 = w * (LG2 + w * (LG4 + w * LG6));
  const t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)));
  const R = t2 + t1;
  // fdlibm's (hx − 0x6147a) | (0x6b851 − hx) > 0: m's fraction in [0.3800, 0.4200].
  if (hx - 0x6147a >= 0 && 0x6b851 - hx >= 0) {
    const hfsq = 0.5 * f * f;
    return k === 0 ? f - (hfsq - s * (hfsq + R)) : dk * LN2_HI - (hfsq - (s * (hfsq + R) + dk * LN2_LO) - f);
  }
  return k === 0 ? f - s * (f - R) : dk * LN2_HI - (s * (f - R) - dk * LN2_LO - f);
}

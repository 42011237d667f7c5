/*
 * The learning step's two kernels in C for WebAssembly, to measure whether
 * JavaScriptCore's wasm tiers run them faster than its optimising JIT runs
 * the JavaScript (bench/wasm-kernels.bench.ts builds and times this file;
 * the engine itself does not use it). Each is the JavaScript's operations
 * in the JavaScript's order, so the bits are the same (no contraction into
 * FMA: -ffp-contract=off; sqrt is f64.sqrt, correctly rounded like Math.sqrt):
 *   hosa_pass   DimSurprise.pass with the forward substitution (src/engine/surprise.ts)
 *   hosa_learn  Welford.defer, and every `every` samples Welford.flush,
 *               covarianceInto and Mahalanobis.factor (src/engine/welford.ts,
 *               mahalanobis.ts), without forgetting (decay 1)
 * State lives in the module's memory at offsets the caller gives once
 * (hosa_bind); a call crosses the boundary once per sample.
 */
typedef unsigned char u8;

static int n;
static double *x, *mean, *delta, *invStd, *signs, *p1, *p2, *zs, *chol, *invDiag, *u, *out;
static const u8 *prop;
static double *wmean, *m2, *deltas, *afters, *cov, *variance, *dimRel, *dimAbs, *cholPrev, *invDiagPrev;
static double weight;
static int pending;

void hosa_bind(int dims, double *buf, u8 *flags) {
  n = dims;
  double *q = buf;
  x = q; q += n; mean = q; q += n; delta = q; q += n; invStd = q; q += n;
  signs = q; q += n; p1 = q; q += n; p2 = q; q += n; zs = q; q += n;
  chol = q; q += n * n; invDiag = q; q += n; u = q; q += n; out = q; q += 8;
  wmean = q; q += n; m2 = q; q += n * n; deltas = q; q += 64 * n; afters = q; q += 64 * n;
  cov = q; q += n * n; variance = q; q += n; dimRel = q; q += n; dimAbs = q; q += n;
  cholPrev = q; q += n * n; invDiagPrev = q; q += n;
  prop = flags;
  pending = 0;
}

void hosa_set_weight(double w) { weight = w; }

/* median3 of median.ts: the same comparisons, so the same operand. */
static double median3(double a, double b, double c) {
  if (a > b) { double s = a; a = b; b = s; }
  if (c >= b) return b;
  return c > a ? c : a;
}

/* out: [0] φ's sum, [1] icp, [2] D_M², [3] max |z̄|, [4] icp's dimension, [5] max's dimension, [6] finite. */
void hosa_pass(int smooth, int median, double a) {
  double best = -1, phi = 0, icp = 0, d2 = 0;
  int bestJ = 0, icpDim = (int)out[4], finite = 1;
  for (int j = 0; j < n; j++) {
    double xj = x[j];
    if (!(xj - xj == 0)) finite = 0;
    double v = xj - mean[j];
    double dj = v == v && v != __builtin_inf() && v != -__builtin_inf() ? v : 0;
    delta[j] = dj;
    double sum = dj;
    int row = j * n;
    for (int k = 0; k < j; k++) sum -= chol[row + k] * u[k];
    double uj = sum * invDiag[j];
    u[j] = uj;
    d2 += uj * uj;
    double is = invStd[j];
    phi += signs[j] * dj * is;
    double z = dj * is;
    if (prop[j] != 0 && z > icp) { icp = z; icpDim = j; }
    if (!smooth) continue;
    double zin = z;
    if (median) {
      double a1 = p1[j], a2 = p2[j];
      p2[j] = a1;
      p1[j] = z;
      zin = median3(a2, a1, z);
    }
    double s = zs[j] + a * (zin - zs[j]);
    zs[j] = s;
    double m = s < 0 ? -s : s;
    if (m > best) { best = m; bestJ = j; }
  }
  out[0] = phi; out[1] = icp; out[2] = d2; out[4] = icpDim; out[6] = finite;
  if (smooth) { out[3] = best; out[5] = bestJ; }
}

static void factor(double keep, double floorRel, double floorAbs) {
  double *L = cholPrev, *inv = invDiagPrev;
  for (int j = 0; j < n; j++) {
    double m = wmean[j];
    mean[j] = m;
    double dr = dimRel[j], da = dimAbs[j];
    double fr = (dr > floorRel ? dr : floorRel) * __builtin_fabs(m);
    double fa = da > floorAbs ? da : floorAbs;
    double floor = fr > fa ? fr * fr : fa * fa;
    double v = cov[j * n + j];
    double kept = v > floor ? v : floor;
    variance[j] = kept;
    invStd[j] = 1 / __builtin_sqrt(kept);
  }
  for (int i = 0; i < n; i++) {
    int row = i * n;
    for (int j = 0; j < i; j++) {
      double sum = keep * cov[row + j];
      int rowJ = j * n;
      for (int k = 0; k < j; k++) sum -= L[row + k] * L[rowJ + k];
      L[row + j] = sum * inv[j];
    }
    double sum = variance[i];
    for (int k = 0; k < i; k++) sum -= L[row + k] * L[row + k];
    double minPivot = variance[i] * 1e-10;
    double p = __builtin_sqrt(sum > minPivot ? sum : minPivot);
    L[row + i] = p;
    inv[i] = 1 / p;
  }
  cholPrev = chol; invDiagPrev = invDiag; chol = L; invDiag = inv;
}

/* 1 when it refactorised (chol and invDiag then point elsewhere: hosa_chol). */
int hosa_learn(int every, double keep, double floorRel, double floorAbs) {
  double w = weight * 1 + 1;
  weight = w;
  double inv = 1 / w;
  int row = pending * n;
  for (int i = 0; i < n; i++) {
    double xi = x[i], d = xi - wmean[i];
    deltas[row + i] = d;
    double m = wmean[i] + d * inv;
    wmean[i] = m;
    afters[row + i] = xi - m;
  }
  if (++pending < every) return 0;
  int end = pending * n;
  pending = 0;
  for (int i = 0; i < n; i++)
    for (int j = i; j < n; j++) {
      double m = m2[i * n + j];
      for (int r = 0; r < end; r += n) m += deltas[r + i] * afters[r + j];
      m2[i * n + j] = m;
    }
  double c = 1 / (weight - 1);
  for (int i = 0; i < n; i++)
    for (int j = i; j < n; j++) {
      double v = m2[i * n + j] * c;
      cov[i * n + j] = v;
      cov[j * n + i] = v;
    }
  factor(keep, floorRel, floorAbs);
  return 1;
}

double *hosa_chol(void) { return chol; }
double *hosa_inv_diag(void) { return invDiag; }

/* The fixed-point inverse of one 2D residual block with an ELU MLP, in float64 (Behrmann et al. 2019,
 * Algorithm 1): x_{k+1} = y - g(x_k) from x_0 = y, every point at once, until the largest step falls
 * below tol, diverges, or max_iter iterations have run.
 *
 * Built beside density2d.c by iresnet_core/native.py; InvertibleResidualBlock.inverse calls
 * it where it can and otherwise runs the same loop in torch, whose rules it repeats exactly: the
 * residual of an iteration is the largest step ||x_{k+1} - x_k|| over the points still iterating
 * (NaN when any is NaN); with settle > 0 a point whose step fell below settle leaves the batch; the
 * iteration stops as diverged when the residual is not finite or exceeds div_factor times
 * max(first residual, 1e-12), as converged when it is below tol. Through torch each iteration of
 * a few hundred points is some twenty small operations; here it is one pass over them, eight
 * points at a time in vector registers.
 *
 * Layout: y, x are n x 2 row-major (x is written); the block's MLP is laid out as in density2d.c
 * (widths w[0] = 2, ..., w[L] = 2; W_1, b_1, W_2, b_2, ... row-major, float64). residuals has
 * max_iter entries; idx and steps are workspaces of n entries. Returns the iterations run;
 * *status is 1 when converged, 2 when diverged, 0 otherwise.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#define Q 8       /* points per tile: one AVX-512 register of float64 */
#define MAXW 256  /* as density2d.c */
#define KB 4

typedef double vd __attribute__((vector_size(8 * Q)));
typedef int64_t vl __attribute__((vector_size(8 * Q)));

static inline vd where(vl m, vd a, vd b) { return (vd)((m & (vl)a) | (~m & (vl)b)); }

/* exp(x) for x <= 0 (clamped at -708; NaN stays NaN): Cephes' exp, 2^n times a Pade form on
 * |r| <= ln 2 / 2, relative error ~2e-16. */
static inline vd vexp_nonpositive(vd x)
{
    x = where(x < -708.0, (vd){} - 708.0, x);
    vd t = x * 1.4426950408889634073599;
    vd n = (t + 6755399441055744.0) - 6755399441055744.0; /* round to nearest, |t| < 2^51 */
    x = x - n * 6.93145751953125e-1;
    x = x - n * 1.42860682030941723212e-6;
    vd xx = x * x;
    vd p = x * ((1.26177193074810590878e-4 * xx + 3.02994407707441961300e-2) * xx + 9.99999999999999999910e-1);
    vd q = ((3.00198505138664455042e-6 * xx + 2.52448340349684104192e-3) * xx + 2.27265548208155028766e-1) * xx
           + 2.00000000000000000009e0;
    vd r = 1.0 + 2.0 * (p / (q - p));
    vl e = (__builtin_convertvector(n, vl) + 1023) << 52;
    return r * (vd)e;
}

static inline vd elu(vd a)
{
    vl pos = a > 0.0;
    return where(pos, a, vexp_nonpositive(where(pos, (vd){}, a)) - 1.0);
}

/* g of a tile (u, v) -> (g0, g1). */
static void g_tile(vd u, vd v, vd *g0, vd *g1, int L, const int *w, const double *prm)
{
    vd Za[MAXW], Zb[MAXW];
    vd *Z = Za, *Zn = Zb;
    int n = w[1];
    const double *W = prm, *b = prm + 2 * n;
    prm += 3 * n;
    for (int k = 0; k < n; k++) Z[k] = elu(W[2 * k] * u + W[2 * k + 1] * v + b[k]);
    for (int l = 2; l < L; l++) {
        int m = w[l - 1];
        n = w[l];
        W = prm; b = prm + n * m;
        prm += n * m + n;
        for (int k = 0; k < n; k += KB) {
            int kb = n - k < KB ? n - k : KB;
            vd a[KB];
            for (int q = 0; q < KB; q++) a[q] = (vd){} + (q < kb ? b[k + q] : 0.0);
            for (int j = 0; j < m; j++) {
                vd z = Z[j];
                for (int q = 0; q < KB; q++) a[q] += (q < kb ? W[(k + q) * m + j] : 0.0) * z;
            }
            for (int q = 0; q < kb; q++) Zn[k + q] = elu(a[q]);
        }
        vd *t = Z; Z = Zn; Zn = t;
    }
    int m = w[L - 1];
    W = prm; b = prm + 2 * m;
    vd s0 = (vd){} + b[0], s1 = (vd){} + b[1];
    for (int j = 0; j < m; j++) {
        s0 += W[j] * Z[j];
        s1 += W[m + j] * Z[j];
    }
    *g0 = s0;
    *g1 = s1;
}

int fixed_point_2d(int64_t n, const double *y, double *x, int max_iter, double tol, double settle,
                   double div_factor, int L, const int *w, const double *prm, double *residuals, int *status,
                   int64_t *idx, double *steps)
{
    int64_t na = n;
    for (int64_t i = 0; i < n; i++) {
        idx[i] = i;
        x[2 * i] = y[2 * i];
        x[2 * i + 1] = y[2 * i + 1];
    }
    double first = -1.0;
    *status = 0;
    for (int it = 0; it < max_iter; it++) {
        for (int64_t t0 = 0; t0 < na; t0 += Q) {
            int nq = na - t0 < Q ? (int)(na - t0) : Q;
            double a[Q] = {0}, c[Q] = {0}, ya[Q] = {0}, yc[Q] = {0}, o0[Q], o1[Q];
            for (int q = 0; q < nq; q++) {
                int64_t i = idx[t0 + q];
                a[q] = x[2 * i]; c[q] = x[2 * i + 1];
                ya[q] = y[2 * i]; yc[q] = y[2 * i + 1];
            }
            vd u, v, yu, yv, g0, g1;
            memcpy(&u, a, sizeof u); memcpy(&v, c, sizeof v);
            memcpy(&yu, ya, sizeof yu); memcpy(&yv, yc, sizeof yv);
            g_tile(u, v, &g0, &g1, L, w, prm);
            vd nu = yu - g0, nv = yv - g1;
            memcpy(o0, &nu, sizeof o0); memcpy(o1, &nv, sizeof o1);
            for (int q = 0; q < nq; q++) {
                int64_t i = idx[t0 + q];
                double d0 = o0[q] - a[q], d1 = o1[q] - c[q];
                steps[t0 + q] = sqrt(d0 * d0 + d1 * d1);
                x[2 * i] = o0[q];
                x[2 * i + 1] = o1[q];
            }
        }
        double r = 0.0;
        for (int64_t k = 0; k < na; k++) {
            if (isnan(steps[k])) { r = NAN; break; }
            if (steps[k] > r) r = steps[k];
        }
        if (settle > 0.0) {
            int64_t kept = 0;
            for (int64_t k = 0; k < na; k++)
                if (steps[k] >= settle) idx[kept++] = idx[k];
            na = kept;
        }
        residuals[it] = r;
        if (first < 0.0) first = r;
        if (!isfinite(r) || r > div_factor * (first > 1e-12 ? first : 1e-12)) { *status = 2; return it + 1; }
        if (r < tol) { *status = 1; return it + 1; }
    }
    return max_iter;
}

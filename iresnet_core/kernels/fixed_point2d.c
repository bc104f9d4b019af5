/* The fixed-point inverse of one 2D residual block, in float64 (Behrmann et al. 2019, Algorithm 1):
 * x_{k+1} = y - g(x_k) from x_0 = y, every point at once, by the rules of
 * iresnet_core/ops/fixed_point.py, which it repeats exactly:
 *
 *   - each iterate is clamped to +-clamp, NaN taken to +clamp (a diverging point never becomes
 *     inf or NaN);
 *   - the residual of an iteration is the largest step ||x_{k+1} - x_k|| over the points still
 *     iterating (NaN when any step is NaN; 0 when none is left);
 *   - with settle > 0 a point whose step fell below settle leaves the batch;
 *   - the iteration is diverged when the residual is not finite or exceeds div_factor times
 *     max(first residual, 1e-12) (Python's max: a NaN first residual stays NaN), and stops there
 *     when stop_on_divergence; it is converged, and stops, when the residual is below tol.
 *
 * Built beside density2d.c by iresnet_core/kernels/build.py and called by
 * iresnet_core/kernels/inverse.py for the block's inverse and the analysis' n-iteration inverse;
 * g is the MLP tile of mlp_tile.h in float64, 8 points a tile.
 *
 * Layout: y, x are n x 2 row-major (x is written); meta is layout.h's description of the one
 * block (u = -1: the weights in params are normalised already). residuals has max_iter entries;
 * idx and steps are workspaces of n entries. Returns the iterations run, or -1 when meta is
 * malformed; *status gets 1 when converged plus 2 when diverged.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#define MLP_FLOAT64
#include "mlp_tile.h"

ALWAYS_INLINE void g_tile(int act, const Layer *ly, const double *prm, const vr *x, vr *g)
{
    mlp_tile(act, 0, ly, prm, x, g, 0, 0, 0);
}

static void g_any(const Layer *ly, const double *prm, const vr *x, vr *g)
{
    WITH_ACT(ly->act, g_tile, ly, prm, x, g);
}

static inline double clamped(double v, double clamp)
{
    if (isnan(v)) return clamp;
    return v < -clamp ? -clamp : (v > clamp ? clamp : v);
}

int fixed_point_2d(int64_t n, const double *y, double *x, int max_iter, double tol, double settle,
                   double div_factor, double clamp, int stop_on_divergence, const int *meta,
                   const double *params, double *residuals, int *status, int64_t *idx,
                   double *steps)
{
    Layer ly;
    *status = 0;
    if (parse_layers(1, meta, &ly) != 0 || ly.kind != LAYER_BLOCK)
        return -1;
    int64_t na = n;
    for (int64_t i = 0; i < n; i++) {
        idx[i] = i;
        x[2 * i] = y[2 * i];
        x[2 * i + 1] = y[2 * i + 1];
    }
    double first = 0.0;
    int diverged = 0;
    for (int it = 0; it < max_iter; it++) {
        for (int64_t t0 = 0; t0 < na; t0 += LANES) {
            int nq = na - t0 < LANES ? (int)(na - t0) : LANES;
            double a[LANES] = {0}, c[LANES] = {0}, o0[LANES], o1[LANES];
            for (int q = 0; q < nq; q++) {
                int64_t i = idx[t0 + q];
                a[q] = x[2 * i];
                c[q] = x[2 * i + 1];
            }
            vr xt[2], g[2];
            memcpy(&xt[0], a, sizeof xt[0]);
            memcpy(&xt[1], c, sizeof xt[1]);
            g_any(&ly, params, xt, g);
            memcpy(o0, &g[0], sizeof o0);
            memcpy(o1, &g[1], sizeof o1);
            for (int q = 0; q < nq; q++) {
                int64_t i = idx[t0 + q];
                double u = clamped(y[2 * i] - o0[q], clamp), v = clamped(y[2 * i + 1] - o1[q], clamp);
                double d0 = u - a[q], d1 = v - c[q];
                steps[t0 + q] = sqrt(d0 * d0 + d1 * d1);
                x[2 * i] = u;
                x[2 * i + 1] = v;
            }
        }
        double r = 0.0;
        for (int64_t k = 0; k < na; k++) {
            if (isnan(steps[k])) {
                r = NAN;
                break;
            }
            if (steps[k] > r) r = steps[k];
        }
        if (settle > 0.0) {
            int64_t kept = 0;
            for (int64_t k = 0; k < na; k++)
                if (steps[k] >= settle) idx[kept++] = idx[k];
            na = kept;
        }
        residuals[it] = r;
        if (it == 0) first = r;
        if (!isfinite(r) || r > div_factor * (1e-12 > first ? 1e-12 : first)) {
            diverged = 1;
            if (stop_on_divergence) {
                *status = 2;
                return it + 1;
            }
        }
        if (r < tol) {
            *status = 1 + 2 * diverged;
            return it + 1;
        }
    }
    *status = 2 * diverged;
    return max_iter;
}

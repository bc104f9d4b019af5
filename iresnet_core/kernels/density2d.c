/* log p(x) of a 2D flow at many points, fused through every layer: the density grid's kernel.
 *
 * Built and loaded by iresnet_core/kernels/build.py; iresnet_core/kernels/density.py calls it for
 * Flow.log_prob_many and falls back to torch wherever it does not apply. The mathematics is the
 * torch path's: the change of variables (Behrmann et al. 2019, eq. 1),
 *     log p(x) = log N(F(x); 0, I) + sum_layers ln |det J_layer|,
 * with each residual block's ln |det(I + J_g)| exact from the 2 x 2 Jacobian that the MLP tile
 * (mlp_tile.h) carries beside the values (Sec. 3), ActNorm's sum(log_scale), and for Glow
 * (Kingma & Dhariwal 2018) the LU map's sum(log_s) and the affine coupling's log-scale.
 *
 * Why a kernel: through torch each layer is a few passes over memory for the whole batch; here a
 * tile of 16 points travels through every layer of the flow in vector registers and a few
 * kilobytes of stack before the next tile starts, each weight read from cache once per tile
 * (the measured gain is in docs/benchmarks.md).
 *
 * Layout (float32): x is n x 2 row-major, out has n entries; the layers are layout.h's meta with
 * offsets into params (weights already normalised: every map's u is -1) and consts (the
 * couplings' bounds). Returns 0, or -1 (out untouched) when meta is malformed or memory cannot
 * be had.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mlp_tile.h"

/* One residual block on a tile: x <- x + g(x), ld += ln |det(I + J_g(x))|. */
ALWAYS_INLINE void block_tile(int act, const Layer *ly, const float *prm, vr *x, vr *ld)
{
    vr g[2], j0[2], j1[2];
    mlp_tile(act, 2, ly, prm, x, g, j0, j1, 0);
    vr det = (1.0f + j0[0]) * (1.0f + j1[1]) - j1[0] * j0[1];
    float d[LANES], lg[LANES];
    memcpy(d, &det, sizeof d);
    for (int p = 0; p < LANES; p++) lg[p] = logf(fabsf(d[p])); /* libm's: -inf at det = 0, as torch */
    vr lv;
    memcpy(&lv, lg, sizeof lv);
    *ld += lv;
    x[0] += g[0];
    x[1] += g[1];
}

static void block_any(const Layer *ly, const float *prm, vr *x, vr *ld)
{
    WITH_ACT(ly->act, block_tile, ly, prm, x, ld);
}

/* One affine coupling on a tile (Kingma & Dhariwal 2018, Sec. 3.3): the conditioning coordinate
 * x[parity] goes through the ELU MLP to (raw, t); s = coupling_log_scale(raw) (mlp_tile.h), the
 * other coordinate becomes x exp(s) + t (bound > 0) or (x + t) exp(s) (bound 0), and ld += s. */
static void coupling_tile(const Layer *ly, const float *prm, float bound, vr *x, vr *ld)
{
    int c = ly->arg[0];
    vr g[2];
    mlp_tile(ACT_ELU, 0, ly, prm, &x[c], g, 0, 0, 0);
    vr ds, s = coupling_log_scale(g[0], bound, &ds);
    x[1 - c] = bound > 0 ? x[1 - c] * vexp(s) + g[1] : (x[1 - c] + g[1]) * vexp(s);
    *ld += s;
}

int log_prob_2d(int64_t n, const float *x, float *out, int n_layers, const int *meta,
                const float *params, const float *consts)
{
    Layer *layers = malloc(sizeof(Layer) * (size_t)(n_layers > 0 ? n_layers : 1));
    float *pre = malloc(sizeof(float) * 4 * (size_t)(n_layers > 0 ? n_layers : 1));
    if (!layers || !pre || parse_layers(n_layers, meta, layers) != 0) {
        free(layers);
        free(pre);
        return -1;
    }
    /* what is the same at every point: ActNorm's scales, the LU map's W, the log-dets' sum */
    float constant = 0.0f;
    for (int i = 0; i < n_layers; i++) {
        const Layer *ly = &layers[i];
        float *q = pre + 4 * i;
        if (ly->kind == LAYER_ACTNORM) {
            const float *ls = params + ly->arg[1];
            q[0] = expf(ls[0]);
            q[1] = expf(ls[1]);
            constant += ls[0] + ls[1];
        } else if (ly->kind == LAYER_LINEAR) { /* W = P L U', row-major */
            const float *ls = params + ly->arg[5];
            float l = params[ly->arg[3]], u01 = params[ly->arg[4]];
            float u00 = (float)ly->arg[1] * expf(ls[0]), u11 = (float)ly->arg[2] * expf(ls[1]);
            float r0[2] = {u00, u01}, r1[2] = {l * u00, l * u01 + u11};
            const float *a = ly->arg[0] ? r1 : r0, *b = ly->arg[0] ? r0 : r1;
            q[0] = a[0]; q[1] = a[1]; q[2] = b[0]; q[3] = b[1];
            constant += ls[0] + ls[1];
        }
    }
    for (int64_t i0 = 0; i0 < n; i0 += LANES) {
        int np = n - i0 < LANES ? (int)(n - i0) : LANES;
        float u[LANES] = {0}, v[LANES] = {0}, o[LANES];
        for (int p = 0; p < np; p++) {
            u[p] = x[2 * (i0 + p)];
            v[p] = x[2 * (i0 + p) + 1];
        }
        vr xt[2], ld = {};
        memcpy(&xt[0], u, sizeof xt[0]);
        memcpy(&xt[1], v, sizeof xt[1]);
        for (int i = 0; i < n_layers; i++) {
            const Layer *ly = &layers[i];
            const float *q = pre + 4 * i;
            if (ly->kind == LAYER_BLOCK) {
                block_any(ly, params, xt, &ld);
            } else if (ly->kind == LAYER_ACTNORM) {
                const float *bias = params + ly->arg[0];
                xt[0] = (xt[0] + bias[0]) * q[0];
                xt[1] = (xt[1] + bias[1]) * q[1];
            } else if (ly->kind == LAYER_LINEAR) {
                vr y0 = q[0] * xt[0] + q[1] * xt[1];
                xt[1] = q[2] * xt[0] + q[3] * xt[1];
                xt[0] = y0;
            } else {
                coupling_tile(ly, params, consts[ly->arg[1]], xt, &ld);
            }
        }
        /* log N(z; 0, I) in 2D */
        vr lp = -0.5f * (xt[0] * xt[0] + xt[1] * xt[1]) - 1.8378770664093453f + ld + constant;
        memcpy(o, &lp, sizeof o);
        for (int p = 0; p < np; p++) out[i0 + p] = o[p];
    }
    free(layers);
    free(pre);
    return 0;
}

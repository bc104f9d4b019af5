/* log p(x) of a 2D i-ResNet (ELU blocks, ActNorms) or Glow at many points, fused: the density grid's kernel.
 *
 * Built and loaded by iresnet_core/native.py, which falls back to the torch path
 * (Flow.log_prob_many) wherever this cannot be compiled. The mathematics is the torch path's:
 * the change of variables (Behrmann et al. 2019, eq. 1), log p(x) = log N(F(x); 0, I)
 * + sum_blocks ln |det(I + J_g)|, with each block's 2 x 2 Jacobian J_g = W_L D_{L-1} ... D_1 W_1
 * (Sec. 3) carried through the MLP as two tangents beside the values, exactly as
 * iresnet_core/jacobian_mlp.py does with matrix products.
 *
 * Why a kernel: through torch, a 200 x 200 grid of the default flow (32 blocks of 2-32-32-2) makes
 * some ten passes over memory per layer (the ELU, the tangents, the products), and those passes,
 * not the arithmetic, took two thirds of its time (issue 6). Here P = 16 points travel together,
 * their values and tangents in vector registers and a few kilobytes of stack, through every layer
 * of the flow before the next 16 start: each weight is read from cache once per 16 points and
 * nothing else touches memory. The GCC/Clang vector extension lets the compiler pick the machine's
 * widest registers (-march=native); no intrinsics, so it builds on any CPU the compiler knows.
 *
 * Layout (float32): x is n x 2, row-major; out has n entries. Layer i is a residual block when
 * kinds[i] == 0, with depth[b] linear maps for the b-th block of widths widths[...] (depth + 1
 * numbers, 2 first and last) and, in params, W_1 (out x in, row-major), b_1, W_2, b_2, ...;
 * kinds[i] == 1 is an affine map x * scale + shift (an ActNorm: scale[2], shift[2]); for Glow
 * (Kingma & Dhariwal 2018), kinds[i] == 2 is a linear map W (2 x 2, row-major) and kinds[i] == 3
 * or 4 an affine coupling conditioned on x0 or x1: the log-scale's bound, then its MLP laid out as
 * a block's (widths 1, ..., 2; depth and widths taken in turn with the blocks').
 * `constant` is added to every output: the log-determinants that are the same at every point
 * (the ActNorms' sum of log_scale, the LU maps' sum of log_s).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "simd2d.h"

#define KB 4      /* output units per pass over a layer's inputs: each input row serves KB units */

/* tanh(v) = sign(v) (1 - e) / (1 + e) with e = exp(-2 |v|): absolute error ~1e-7. */
static inline vf vtanh(vf v)
{
    vi neg = v < 0.0f;
    vf e = vexp(-2.0f * where(neg, -v, v));
    vf t = (1.0f - e) / (1.0f + e);
    return where(neg, -t, t);
}

/* log sigmoid(a) = min(a, 0) - log1p(exp(-|a|)), the log1p per lane through libm (as the blocks'
 * log|det|): exact to float rounding for every a, no overflow. */
static inline vf vlogsigmoid(vf a)
{
    vi neg = a < 0.0f;
    vf e = vexp(where(neg, a, -a));
    float l[P];
    memcpy(l, &e, sizeof l);
    for (int p = 0; p < P; p++) l[p] = log1pf(l[p]);
    vf lv;
    memcpy(&lv, l, sizeof lv);
    return where(neg, a, (vf){}) - lv;
}

/* One residual block on a tile: x <- x + g(x), ld += ln |det(I + J_g(x))|. */
static void block_tile(vf *x0, vf *x1, vf *ld, int L, const int *w, const float *prm)
{
    /* Z[0][k] = phi(a_k), Z[1 + i][k] = phi'(a_k) * d a_k / d x_i of the current hidden layer */
    vf Za[3][MAXW], Zb[3][MAXW];
    vf (*Z)[MAXW] = Za, (*Zn)[MAXW] = Zb;
    int n = w[1];
    const float *W = prm, *b = prm + 2 * n;
    prm += 3 * n;
    for (int k = 0; k < n; k++) { /* first layer: the tangents of a_1 are W_1's columns */
        vf s, a = W[2 * k] * *x0 + W[2 * k + 1] * *x1 + b[k];
        Z[0][k] = elu(a, &s);
        Z[1][k] = s * W[2 * k];
        Z[2][k] = s * W[2 * k + 1];
    }
    for (int l = 2; l < L; l++) { /* hidden to hidden: values and both tangents through W_l */
        int m = w[l - 1];
        n = w[l];
        W = prm; b = prm + n * m;
        prm += n * m + n;
        int k = 0;
        for (; k < n; k += KB) {
            int kb = n - k < KB ? n - k : KB;
            vf a0[KB], a1[KB], a2[KB];
            for (int q = 0; q < KB; q++) {
                a0[q] = (vf){} + (q < kb ? b[k + q] : 0.0f);
                a1[q] = a2[q] = (vf){};
            }
            for (int j = 0; j < m; j++) {
                vf z0 = Z[0][j], z1 = Z[1][j], z2 = Z[2][j];
                for (int q = 0; q < KB; q++) {
                    float c = q < kb ? W[(k + q) * m + j] : 0.0f;
                    a0[q] += c * z0; a1[q] += c * z1; a2[q] += c * z2;
                }
            }
            for (int q = 0; q < kb; q++) {
                vf s;
                Zn[0][k + q] = elu(a0[q], &s);
                Zn[1][k + q] = s * a1[q];
                Zn[2][k + q] = s * a2[q];
            }
        }
        vf (*t)[MAXW] = Z; Z = Zn; Zn = t;
    }
    int m = w[L - 1]; /* last layer, 2 outputs: g and the four entries of J_g */
    W = prm; b = prm + 2 * m;
    vf g0 = (vf){} + b[0], g1 = (vf){} + b[1], j00 = {}, j01 = {}, j10 = {}, j11 = {};
    for (int j = 0; j < m; j++) {
        float c0 = W[j], c1 = W[m + j];
        g0 += c0 * Z[0][j]; g1 += c1 * Z[0][j];
        j00 += c0 * Z[1][j]; j01 += c0 * Z[2][j];
        j10 += c1 * Z[1][j]; j11 += c1 * Z[2][j];
    }
    vf det = (1.0f + j00) * (1.0f + j11) - j01 * j10;
    float d[P], lg[P];
    memcpy(d, &det, sizeof d);
    for (int p = 0; p < P; p++) lg[p] = logf(fabsf(d[p])); /* libm's log: -inf at det = 0, as torch */
    vf lv;
    memcpy(&lv, lg, sizeof lv);
    *ld += lv;
    *x0 += g0;
    *x1 += g1;
}

/* The conditioner's activation: ReLU (`relu`, Glow's code) or ELU. */
static inline vf cond_act(vf a, int relu)
{
    vf s;
    return relu ? where(a > 0.0f, a, (vf){}) : elu(a, &s);
}

/* One affine coupling on a tile (Kingma & Dhariwal 2018, Sec. 3.3): the conditioning coordinate c
 * (x0 for parity 0, else x1) goes through an MLP of widths w[0] = 1, ..., w[L] = 2 with ReLU
 * (`relu`) or ELU to (raw, t). With `sigmoid` (Glow's code) s = log sigmoid(raw + 2) and the other
 * coordinate becomes (x + t) * exp(s); else s = bound * tanh(raw / bound) and it becomes
 * x * exp(s) + t; ld += s. */
static void coupling_tile(vf *c, vf *x, vf *ld, int sigmoid, int relu, float bound, int L,
                          const int *w, const float *prm)
{
    vf Za[MAXW], Zb[MAXW];
    vf *Z = Za, *Zn = Zb;
    int n = w[1];
    const float *W = prm, *b = prm + n;
    prm += 2 * n;
    for (int k = 0; k < n; k++) Z[k] = cond_act(W[k] * *c + b[k], relu);
    for (int l = 2; l < L; l++) {
        int m = w[l - 1];
        n = w[l];
        W = prm; b = prm + n * m;
        prm += n * m + n;
        for (int k = 0; k < n; k += KB) {
            int kb = n - k < KB ? n - k : KB;
            vf a[KB];
            for (int q = 0; q < KB; q++) a[q] = (vf){} + (q < kb ? b[k + q] : 0.0f);
            for (int j = 0; j < m; j++) {
                vf z = Z[j];
                for (int q = 0; q < KB; q++) a[q] += (q < kb ? W[(k + q) * m + j] : 0.0f) * z;
            }
            for (int q = 0; q < kb; q++) Zn[k + q] = cond_act(a[q], relu);
        }
        vf *t = Z; Z = Zn; Zn = t;
    }
    int m = w[L - 1];
    W = prm; b = prm + 2 * m;
    vf raw = (vf){} + b[0], shift = (vf){} + b[1];
    for (int j = 0; j < m; j++) {
        raw += W[j] * Z[j];
        shift += W[m + j] * Z[j];
    }
    if (sigmoid) {
        vf s = vlogsigmoid(raw + 2.0f);
        *x = (*x + shift) * vexp(s);
        *ld += s;
    } else {
        vf s = bound * vtanh(raw / bound);
        *x = *x * vexp(s) + shift;
        *ld += s;
    }
}

void log_prob_2d(int64_t n, const float *x, float *out, int n_layers, const int *kinds, const int *depth,
                 const int *widths, const float *params, float constant)
{
    for (int64_t i0 = 0; i0 < n; i0 += P) {
        int np = n - i0 < P ? (int)(n - i0) : P;
        float u[P] = {0}, v[P] = {0}, o[P];
        for (int p = 0; p < np; p++) { u[p] = x[2 * (i0 + p)]; v[p] = x[2 * (i0 + p) + 1]; }
        vf x0, x1, ld = {};
        memcpy(&x0, u, sizeof x0);
        memcpy(&x1, v, sizeof x1);
        const int *w = widths, *d = depth;
        const float *prm = params;
        for (int i = 0; i < n_layers; i++) {
            if (kinds[i] == 0) {
                int L = *d++;
                block_tile(&x0, &x1, &ld, L, w, prm);
                for (int l = 1; l <= L; l++) prm += w[l] * w[l - 1] + w[l];
                w += L + 1;
            } else if (kinds[i] == 1) { /* ActNorm */
                x0 = x0 * prm[0] + prm[2];
                x1 = x1 * prm[1] + prm[3];
                prm += 4;
            } else if (kinds[i] == 2) { /* Glow's invertible linear map, W row-major */
                vf y0 = prm[0] * x0 + prm[1] * x1;
                x1 = prm[2] * x0 + prm[3] * x1;
                x0 = y0;
                prm += 4;
            } else { /* Glow's coupling, parity kinds[i] - 3; params: the tanh form's bound, the
                        sigmoid form (0/1), ReLU (0/1), then the MLP's */
                int L = *d++, sig = prm[1] != 0.0f, relu = prm[2] != 0.0f;
                if (kinds[i] == 3)
                    coupling_tile(&x0, &x1, &ld, sig, relu, prm[0], L, w, prm + 3);
                else
                    coupling_tile(&x1, &x0, &ld, sig, relu, prm[0], L, w, prm + 3);
                prm += 3;
                for (int l = 1; l <= L; l++) prm += w[l] * w[l - 1] + w[l];
                w += L + 1;
            }
        }
        vf lp = -0.5f * (x0 * x0 + x1 * x1) - 1.8378770664093453f + ld + constant; /* log N(z; 0, I), d = 2 */
        memcpy(o, &lp, sizeof o);
        for (int p = 0; p < np; p++) out[i0 + p] = o[p];
    }
}

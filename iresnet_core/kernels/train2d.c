/* A 2D flow's exact training loss and its gradient in one pass: the training step's kernel, for the
 * i-ResNet and for Glow.
 *
 * Built and loaded by iresnet_core/kernels/build.py; used by iresnet_core/kernels/nll.py
 * (NativeNLL), which falls back to torch's loss wherever this does not apply
 * (kernels.training_engine says which, and why). The loss is the torch path's (Flow.nll): the
 * mean over the batch of -log p(x) = -log N(F(x); 0, I) - sum_layers ln |det J_layer|
 * (Behrmann et al. 2019, eq. 1), with
 *   - each residual block's ln |det(I + J_g)| exact (eq. 2's log-det, the 2 x 2 determinant),
 *     its weights under the soft spectral rule W / max(1, sigma / c), sigma = u^T W v with the
 *     power iteration's u, v held fixed (Sec. 3.1), J_g = W_L D_{L-1} ... D_1 W_1 carried through
 *     the MLP as two tangents beside the values (Sec. 3; the tile of mlp_tile.h, any of its
 *     activations);
 *   - ActNorm's sum(log_scale), and for Glow (Kingma & Dhariwal 2018, Sec. 3) the LU map's
 *     sum(log_s) with W = P L U', and the affine coupling's bounded log-scale
 *     s = bound tanh(raw / bound) from its ELU conditioner (the same tile, values only).
 * The gradient is written out by hand (the backward of that forward: J_g is computed, not
 * differentiated, so the backward needs phi'' once), with respect to the raw weights: through
 * the rule,
 *     dL/dW = (c / sigma) G - (c / sigma^2) <G, W> u v^T     when sigma > c, else G,
 * G the gradient with respect to the normalised weights.
 *
 * How: P points travel together in vector registers: a forward pass with values only, then
 * layer by layer backwards over all tiles, each block or coupling recomputed from its stored
 * input, and its gradient accumulated lane-wise in vectors that stay in cache while every tile
 * passes through that layer. A map between two hidden layers, whose gradient is a sum over the
 * points of outer products, leaves its factors per tile in a stash; once a chunk of tiles has
 * passed, weight_grad adds their products, blocks of sums held in registers, so that the map's
 * gradient is read and written once per chunk rather than once per tile (where a weight takes one
 * multiply-add per tile, as in a coupling's conditioner, that traffic would set the pace).
 *
 * Layout (float32): x is n x 2, row-major; params is the trainer's flat parameter vector and
 * meta layout.h's description of the layers, with each constrained map's u, v offsets into uv
 * and its coefficient c (and each coupling's bound) in consts. grad (same layout as params)
 * receives wt times the gradient of the sum over the points, added to what it holds; the return
 * value is the sum over the points of -log p(x) (the caller divides by the batch; wt is 1 / batch
 * for the mean). power_iter_2d, at the start of a training step, advances uv by the step's power
 * iterations before the loss reads it.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mlp_tile.h"

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#define LOG_2PI 1.8378770664093453

#define P LANES

/* meta as layers; -1 when it is malformed. */
static int parse(int n_layers, const int *meta, Layer *out)
{
    return parse_layers(n_layers, meta, out);
}

/* Whether the layer holds an MLP (a residual block or a coupling's conditioner). */
static inline int has_mlp(const Layer *ly)
{
    return ly->kind == LAYER_BLOCK || ly->kind == LAYER_COUPLING;
}

/* Values only: x <- x + g(x) through the normalised weights wn. */
ALWAYS_INLINE void block_values(int act, vr *x, const Layer *ly, const float *wn)
{
    vr g[2];
    mlp_tile(act, 0, ly, wn, x, g, 0, 0, 0);
    x[0] += g[0];
    x[1] += g[1];
}

static void block_values_any(vr *x, const Layer *ly, const float *wn)
{
    WITH_ACT(ly->act, block_values, x, ly, wn);
}

/* The vectors a tile leaves in the stash for the maps between hidden layers (stash_factors); 0
 * where the MLP has one hidden layer. */
static inline int64_t stash_size(const Layer *ly, int nt)
{
    int64_t size = 0;
    for (int l = 2; l < ly->L; l++)
        size += (int64_t)(1 + nt) * (ly->w[l] + ly->w[l - 1]);
    return size;
}

/* One map's factors of its weight gradient sum_f r_f c_f^T into the stash of a chunk of `stride`
 * tiles, this tile's place at `stash`: per f = 0 .. nt the adjoints r_f (n vectors: ab, pb0, pb1)
 * then the inputs c_f (m vectors: h, T_0, T_1), each vector the tiles' side by side (`stride`
 * apart), so that weight_grad reads them in order; returns the next map's place (maps in the
 * backward's order, the last hidden one first). */
ALWAYS_INLINE vr *stash_factors(int nt, vr *stash, int64_t stride, int n, int m, const vr *ab,
                                const vr *pb0, const vr *pb1, const vr *hp, const vr *tp0,
                                const vr *tp1)
{
    const vr *r[3] = {ab, pb0, pb1}, *c[3] = {hp, tp0, tp1};
    for (int f = 0; f <= nt; f++) {
        for (int k = 0; k < n; k++)
            stash[k * stride] = r[f][k];
        stash += n * stride;
        for (int i = 0; i < m; i++)
            stash[i * stride] = c[f][i];
        stash += m * stride;
    }
    return stash;
}

/* acc += the weight gradients of the maps between hidden layers of the first `count` tiles of a
 * chunk of `stride`, from the stash: G[k][i] = sum_tiles sum_f r_f[k] c_f[i], lane-wise. Blocks of
 * KB x KB sums stay in registers while the tiles pass, so that acc is read and written once per
 * chunk rather than once per tile. */
ALWAYS_INLINE void weight_grad(int nt, const Layer *ly, const vr *stash, int64_t stride,
                               int count, vr *acc)
{
    const int *w = ly->w;
    int L = ly->L;
    vr *G[MAXL + 1];
    for (int l = 1; l <= L; l++) {
        G[l] = acc;
        acc += w[l] * w[l - 1] + w[l];
    }
    for (int l = L - 1; l >= 2; l--) {
        int n = w[l], m = w[l - 1];
        int64_t seg = (int64_t)(n + m) * stride;
        for (int k0 = 0; k0 < n; k0 += KB)
            for (int i0 = 0; i0 < m; i0 += KB) {
                vr c[KB][KB] = {{}};
                if (k0 + KB <= n && i0 + KB <= m) {
                    for (int f = 0; f <= nt; f++) {
                        const vr *r = stash + f * seg + k0 * stride;
                        const vr *x = stash + f * seg + (n + i0) * stride;
                        for (int t = 0; t < count; t++)
                            for (int q = 0; q < KB; q++)
                                for (int e = 0; e < KB; e++)
                                    c[q][e] += r[q * stride + t] * x[e * stride + t];
                    }
                } else {
                    int kb = n - k0 < KB ? n - k0 : KB, ib = m - i0 < KB ? m - i0 : KB;
                    for (int f = 0; f <= nt; f++) {
                        const vr *r = stash + f * seg + k0 * stride;
                        const vr *x = stash + f * seg + (n + i0) * stride;
                        for (int t = 0; t < count; t++)
                            for (int q = 0; q < kb; q++)
                                for (int e = 0; e < ib; e++)
                                    c[q][e] += r[q * stride + t] * x[e * stride + t];
                    }
                }
                for (int q = 0; q < KB && k0 + q < n; q++)
                    for (int e = 0; e < KB && i0 + e < m; e++)
                        G[l][(k0 + q) * m + i0 + e] += c[q][e];
            }
        stash += (1 + nt) * seg;
    }
}

/* Inputs j .. j + jb - 1 (jb <= UNITS(nt)) of a map W (n x m, row-major): the adjoints of the
 * input h and (nt = 2) tangents T_i from those of the outputs, hb = W^T ab and tb_i = W^T pb_i, the
 * sums in registers over the n outputs in order, the inputs past jb computed with weights 0. */
ALWAYS_INLINE void adjoint_units(int nt, int jb, int j, int n, int m, const float *W, const vr *ab,
                                 const vr *pb0, const vr *pb1, vr *hb, vr *tb0, vr *tb1)
{
    vr a[KBV], q0[KBV], q1[KBV];
    for (int e = 0; e < UNITS(nt); e++)
        a[e] = q0[e] = q1[e] = (vr){};
    for (int k = 0; k < n; k++) {
        vr x = ab[k], y0 = {}, y1 = {};
        if (nt) {
            y0 = pb0[k];
            y1 = pb1[k];
        }
        for (int e = 0; e < UNITS(nt); e++) {
            float c = e < jb ? W[k * m + j + e] : 0;
            a[e] += c * x;
            if (nt) {
                q0[e] += c * y0;
                q1[e] += c * y1;
            }
        }
    }
    for (int e = 0; e < jb; e++) {
        hb[j + e] = a[e];
        if (nt) {
            tb0[j + e] = q0[e];
            tb1[j + e] = q1[e];
        }
    }
}

/* The backward of mlp_tile's pass on a tile, the MLP of `ly` with its stored forward in keep
 * (mlp_tile's layout: a, h, s = phi'(a), P_0, P_1, T_0, T_1 per hidden layer). In: its input x
 * (w[0] values), the adjoint gg[2] of its output g and, with nt = 2, the adjoint jb[4] of its
 * Jacobian J_g (J00, J01, J10, J11), which reaches the weights through the tangents and, by
 * d phi'(a) / da = phi''(a), the pre-activations. Out: the adjoint of x in gx (w[0] values),
 * the gradient with respect to the first and last maps' weights and every bias added lane-wise to
 * acc (per map: W then b); for each map between hidden layers, whose gradient is a sum of outer
 * products, its factors (stash_factors) in the tile's stash, which weight_grad adds to acc for many
 * tiles at once. Scratch: 9 MAXW vectors after the stored layers. */
ALWAYS_INLINE void mlp_backward(int act, int nt, const Layer *ly, const float *wn, const vr *x,
                                const vr *gg, const vr *jb, vr *gx, vr *acc, vr *keep, vr *stash,
                                int64_t stride)
{
    const int *w = ly->w;
    int L = ly->L;
    vr *st[MAXL];
    vr *p = keep;
    for (int l = 1; l < L; l++) {
        st[l] = p;
        p += 7 * w[l];
    }
#define A_(l) (st[l])
#define H_(l) (st[l] + w[l])
#define S_(l) (st[l] + 2 * w[l])
#define P0_(l) (st[l] + 3 * w[l])
#define P1_(l) (st[l] + 4 * w[l])
#define T0_(l) (st[l] + 5 * w[l])
#define T1_(l) (st[l] + 6 * w[l])
    /* adjoints of the current hidden layer's h and T_i, of the layer below's, and of a and P_i */
    vr *hb = p, *tb0 = p + MAXW, *tb1 = p + 2 * MAXW;
    vr *hbn = p + 3 * MAXW, *tbn0 = p + 4 * MAXW, *tbn1 = p + 5 * MAXW;
    vr *ab = p + 6 * MAXW, *pb0 = p + 7 * MAXW, *pb1 = p + 8 * MAXW;
    vr *accW[MAXL + 1], *accb[MAXL + 1];
    {
        vr *q = acc;
        for (int l = 1; l <= L; l++) {
            accW[l] = q;
            q += w[l] * w[l - 1];
            accb[l] = q;
            q += w[l];
        }
    }
    /* the last map: g = W_L h + b_L, J = W_L T */
    int m = w[L - 1];
    const float *W = wn + ly->lin[5 * (L - 1)];
    const vr *h = H_(L - 1), *t0 = T0_(L - 1), *t1 = T1_(L - 1);
    vr g0 = gg[0], g1 = gg[1];
    for (int k = 0; k < m; k++) {
        vr w0 = g0 * h[k], w1 = g1 * h[k];
        hb[k] = W[k] * g0 + W[m + k] * g1;
        if (nt) {
            w0 += jb[0] * t0[k] + jb[1] * t1[k];
            w1 += jb[2] * t0[k] + jb[3] * t1[k];
            tb0[k] = W[k] * jb[0] + W[m + k] * jb[2];
            tb1[k] = W[k] * jb[1] + W[m + k] * jb[3];
        }
        accW[L][k] += w0;
        accW[L][m + k] += w1;
    }
    accb[L][0] += g0;
    accb[L][1] += g1;
    for (int l = L - 1; l >= 1; l--) {
        int n = w[l];
        const vr *a = A_(l), *s = S_(l), *q0 = P0_(l), *q1 = P1_(l);
        for (int k = 0; k < n; k++) { /* h = phi(a), T_i = s P_i with s = phi'(a) */
            ab[k] = hb[k] * s[k];
            if (nt) {
                vr sb = tb0[k] * q0[k] + tb1[k] * q1[k];
                ab[k] += sb * act_second(act, a[k], H_(l)[k], s[k]);
                pb0[k] = tb0[k] * s[k];
                pb1[k] = tb1[k] * s[k];
            }
            accb[l][k] += ab[k];
        }
        int mm = w[l - 1];
        const float *Wl = wn + ly->lin[5 * (l - 1)];
        if (l == 1) { /* a_1 = W_1 x + b_1, P_1 = W_1's columns */
            for (int i = 0; i < mm; i++)
                gx[i] = (vr){};
            for (int k = 0; k < n; k++)
                for (int i = 0; i < mm; i++) {
                    vr gw = ab[k] * x[i];
                    if (nt) gw += i == 0 ? pb0[k] : pb1[k];
                    accW[1][mm * k + i] += gw;
                    gx[i] += Wl[mm * k + i] * ab[k];
                }
            break;
        }
        /* a_l = W_l h_{l-1} + b_l, P_l = W_l T_{l-1}: the adjoints of h_{l-1} and T_{l-1} here,
         * W_l's gradient ab h_{l-1}^T + pb_0 T_0^T + pb_1 T_1^T from the stash (weight_grad) */
        const vr *hp = H_(l - 1), *tp0 = T0_(l - 1), *tp1 = T1_(l - 1);
        stash = stash_factors(nt, stash, stride, n, mm, ab, pb0, pb1, hp, tp0, tp1);
        int j = 0;
        for (; j + UNITS(nt) <= mm; j += UNITS(nt))
            adjoint_units(nt, UNITS(nt), j, n, mm, Wl, ab, pb0, pb1, hbn, tbn0, tbn1);
        if (j < mm)
            adjoint_units(nt, mm - j, j, n, mm, Wl, ab, pb0, pb1, hbn, tbn0, tbn1);
        vr *t;
        t = hb; hb = hbn; hbn = t;
        t = tb0; tb0 = tbn0; tbn0 = t;
        t = tb1; tb1 = tbn1; tbn1 = t;
    }
#undef A_
#undef H_
#undef S_
#undef P0_
#undef P1_
#undef T0_
#undef T1_
}

/* One residual block's backward on a tile. In: its input x, the adjoint gy of its output, the
 * points' weights wt (0 in padding lanes). Out: the adjoint of x in gy; the block's -ln|det|
 * summed over the n_valid first lanes added to *loss; the gradient with respect to its normalised
 * weights added lane-wise to acc (per map: W then b, vectors). work: 7 vectors per hidden unit,
 * then 9 MAXW of scratch. */
ALWAYS_INLINE void block_backward(int act, vr x0, vr x1, vr *gy0, vr *gy1, vr wt, int n_valid,
                                  double *loss, const Layer *ly, const float *wn, vr *acc,
                                  vr *work, vr *stash, int64_t stride)
{
    /* the forward again, keeping every hidden layer; then ln |det(I + J_g)| and its adjoint
     * wt * d(-ln|det|)/dJ = -wt (I + J)^-T */
    vr xin[2] = {x0, x1}, g[2], j0[2], j1[2];
    mlp_tile(act, 2, ly, wn, xin, g, j0, j1, work);
    vr j00 = j0[0], j01 = j1[0], j10 = j0[1], j11 = j1[1];
    vr m00 = 1.0f + j00, m11 = 1.0f + j11;
    vr det = m00 * m11 - j01 * j10;
    float d[P];
    memcpy(d, &det, sizeof d);
    for (int q = 0; q < n_valid; q++)
        *loss -= log(fabs((double)d[q]));
    vr c = where(wt != 0.0f, wt / det, (vr){}); /* padding lanes: no adjoint, even where det = 0 */
    vr jb[4] = {-c * m11, c * j10, c * j01, -c * m00};
    vr gg[2] = {*gy0, *gy1}, gx[2]; /* y = x + g: the adjoint of g is gy's */
    mlp_backward(act, 2, ly, wn, xin, gg, jb, gx, acc, work, stash, stride);
    *gy0 = gg[0] + gx[0];
    *gy1 = gg[1] + gx[1];
}

static void block_backward_any(vr x0, vr x1, vr *gy0, vr *gy1, vr wt, int n_valid, double *loss,
                               const Layer *ly, const float *wn, vr *acc, vr *work, vr *stash,
                               int64_t stride)
{
    WITH_ACT(ly->act, block_backward, x0, x1, gy0, gy1, wt, n_valid, loss, ly, wn, acc, work,
             stash, stride);
}

/* One affine coupling (Kingma & Dhariwal 2018, Sec. 3.3) forward on a tile: the conditioning
 * coordinate x[parity] through the ELU MLP to (raw, t), s = coupling_log_scale(raw) (mlp_tile.h),
 * the other coordinate x exp(s) + t (bound > 0) or (x + t) exp(s) (bound 0). Returns s (the
 * layer's log-det at each point); th gets ds/draw. */
static inline vr coupling_values(vr *x, const Layer *ly, const float *wn, float bound, vr *th,
                                 vr *keep)
{
    int c = ly->arg[0];
    vr g[2];
    mlp_tile(ACT_ELU, 0, ly, wn, &x[c], g, 0, 0, keep);
    vr s = coupling_log_scale(g[0], bound, th);
    x[1 - c] = bound > 0 ? x[1 - c] * vexp(s) + g[1] : (x[1 - c] + g[1]) * vexp(s);
    return s;
}

/* One affine coupling's backward on a tile: its input x, the adjoint gy of its output (replaced
 * by the adjoint of x), wt as block_backward's; its -log-det, -s, summed over the valid lanes
 * into *loss; the conditioner's gradient into acc. */
static void coupling_backward(const vr *x, vr *gy, vr wt, int n_valid, double *loss,
                              const Layer *ly, const float *wn, float bound, vr *acc, vr *work,
                              vr *stash, int64_t stride)
{
    int c = ly->arg[0];
    vr y[2] = {x[0], x[1]}, th;
    vr s = coupling_values(y, ly, wn, bound, &th, work);
    float sl[P];
    memcpy(sl, &s, sizeof sl);
    for (int q = 0; q < n_valid; q++)
        *loss -= sl[q];
    vr es = vexp(s), gt = gy[1 - c];
    /* y_t = x_t e^s + t (bound > 0) or (x_t + t) e^s (bound 0): the adjoints of raw (through s,
     * whose derivative coupling_values left in th, the log-det's -wt included) and of t */
    vr inner = bound > 0 ? x[1 - c] : y[1 - c] / es; /* x_t, or x_t + t */
    vr gshift = bound > 0 ? gt : gt * es;
    vr gg[2] = {(gt * inner * es - wt) * th, gshift}, gx[1];
    mlp_backward(ACT_ELU, 0, ly, wn, &x[c], gg, 0, gx, acc, work, stash, stride);
    gy[1 - c] = gt * es;
    gy[c] += gx[0];
}

static inline float lanes_sum(vr v)
{
    float a[P], s = 0.0f;
    memcpy(a, &v, sizeof a);
    for (int q = 0; q < P; q++) s += a[q];
    return s;
}

/* An LU linear map's W = P L U' (Kingma & Dhariwal 2018, Sec. 3.2; layout.h) into out[0..3]
 * row-major, and U''s diagonal s_i = sign_i exp(log_s_i) into out[4..5]. */
static void lu_weight(const Layer *ly, const float *params, float *out)
{
    const float *ls = params + ly->arg[5];
    float l = params[ly->arg[3]], u = params[ly->arg[4]];
    float s0 = (float)ly->arg[1] * expf(ls[0]), s1 = (float)ly->arg[2] * expf(ls[1]);
    float r0[2] = {s0, u}, r1[2] = {l * s0, l * u + s1}; /* the rows of M = L U' */
    const float *a = ly->arg[0] ? r1 : r0, *b = ly->arg[0] ? r0 : r1;
    out[0] = a[0]; out[1] = a[1]; out[2] = b[0]; out[3] = b[1];
    out[4] = s0; out[5] = s1;
}

/* An LU linear map's backward over all tiles: y = W x, log |det W| = sum(log_s) at every point.
 * xs: the layer's stored inputs (2 vectors per tile, `stride` vectors apart); adj: the adjoints,
 * replaced by those of x. G = sum gy x^T reaches lower, upper and log_s through W = P L U':
 * with G_M = P^T G, d/dlower = G_M10 s0 + G_M11 upper, d/dupper = G_M01 + G_M11 lower,
 * d/dlog_s0 = (G_M00 + G_M10 lower) s0, d/dlog_s1 = G_M11 s1 (minus wt per point, the log-det). */
static void lu_backward(const Layer *ly, const float *W, const float *params, const vr *xs,
                        int64_t stride, vr *adj, int64_t tiles, int64_t n, float wt, double *loss,
                        float *grad)
{
    vr g00 = {}, g01 = {}, g10 = {}, g11 = {};
    for (int64_t t = 0; t < tiles; t++) {
        vr x0 = xs[t * stride], x1 = xs[t * stride + 1];
        vr a0 = adj[2 * t], a1 = adj[2 * t + 1];
        g00 += a0 * x0; g01 += a0 * x1;
        g10 += a1 * x0; g11 += a1 * x1;
        adj[2 * t] = W[0] * a0 + W[2] * a1;
        adj[2 * t + 1] = W[1] * a0 + W[3] * a1;
    }
    const float *ls = params + ly->arg[5];
    *loss -= (double)n * ((double)ls[0] + ls[1]);
    double G[4] = {lanes_sum(g00), lanes_sum(g01), lanes_sum(g10), lanes_sum(g11)};
    if (ly->arg[0]) { /* P^T G: the rows exchanged back */
        double r[2] = {G[0], G[1]};
        G[0] = G[2]; G[1] = G[3]; G[2] = r[0]; G[3] = r[1];
    }
    double l = params[ly->arg[3]], u = params[ly->arg[4]], s0 = W[4], s1 = W[5];
    grad[ly->arg[3]] += (float)(G[2] * s0 + G[3] * u);
    grad[ly->arg[4]] += (float)(G[1] + G[3] * l);
    grad[ly->arg[5]] += (float)((G[0] + G[2] * l) * s0 - (double)wt * (double)n);
    grad[ly->arg[5] + 1] += (float)(G[3] * s1 - (double)wt * (double)n);
}

/* Tiles whose stashes (`size` vectors each) are gathered before weight_grad takes them: as many as
 * fit in STASH_VECTORS, at least one, at most all. */
#define STASH_VECTORS 4096 /* 256 KiB: a chunk's stashes stay in a core's L2 cache */
static int64_t stash_chunk(int64_t size, int64_t tiles)
{
    int64_t chunk = size ? STASH_VECTORS / size : tiles;
    if (chunk > tiles) chunk = tiles;
    return chunk < 1 ? 1 : chunk;
}

static double nll_grad_body(int64_t n, const float *x, float wt, int n_layers, const int *meta,
                            const float *params, int64_t n_params, const float *uv, const float *consts,
                            float *grad);

/* The sum over the points of -log p(x); grad += wt * its gradient (see the header). Returns NaN when
 * meta is malformed or memory cannot be had. Subnormal numbers are flushed to zero while it runs
 * (the caller's floating-point mode is restored after): a trained flow's ELUs take exp of large
 * negative inputs, and arithmetic on the subnormal products that follow is slow on x86 (see
 * docs/benchmarks.md); what is flushed is below 1.2e-38 in magnitude. */
double nll_grad_2d(int64_t n, const float *x, float wt, int n_layers, const int *meta, const float *params,
                   int64_t n_params, const float *uv, const float *consts, float *grad)
{
#if defined(__SSE__)
    unsigned int csr = _mm_getcsr();
    _mm_setcsr(csr | 0x8040); /* flush-to-zero and denormals-are-zero */
#endif
    double loss = nll_grad_body(n, x, wt, n_layers, meta, params, n_params, uv, consts, grad);
#if defined(__SSE__)
    _mm_setcsr(csr);
#endif
    return loss;
}

static double nll_grad_body(int64_t n, const float *x, float wt, int n_layers, const int *meta, const float *params,
                   int64_t n_params, const float *uv, const float *consts, float *grad)
{
    Layer *layers = malloc(sizeof(Layer) * (size_t)(n_layers > 0 ? n_layers : 1));
    if (!layers) return NAN;
    if (parse(n_layers, meta, layers) != 0) { free(layers); return NAN; }
    /* the normalised weights: W / max(1, sigma / c), everything else as it is */
    float *wn = malloc(sizeof(float) * (size_t)n_params);
    float *lu = malloc(sizeof(float) * 6 * (size_t)(n_layers > 0 ? n_layers : 1));
    int n_maps = 0, most_acc = 4, most_work = 0;
    int64_t tiles = (n + P - 1) / P, most_stash = 1;
    for (int i = 0; i < n_layers; i++)
        if (has_mlp(&layers[i])) {
            int acc = mlp_size(&layers[i]), work = 0;
            int64_t ss = stash_size(&layers[i], layers[i].kind == LAYER_BLOCK ? 2 : 0);
            for (int l = 1; l < layers[i].L; l++) work += 7 * layers[i].w[l];
            n_maps += layers[i].L;
            if (acc > most_acc) most_acc = acc;
            if (work > most_work) most_work = work;
            if (ss * stash_chunk(ss, tiles) > most_stash) most_stash = ss * stash_chunk(ss, tiles);
        }
    double *sigma = malloc(sizeof(double) * (size_t)(n_maps + 1)), *scale = malloc(sizeof(double) * (size_t)(n_maps + 1));
    vr *stored = aligned_alloc(64, sizeof(vr) * (size_t)(tiles * n_layers * 2 + 1));
    vr *adj = aligned_alloc(64, sizeof(vr) * (size_t)(tiles * 2 + 1));
    vr *acc = aligned_alloc(64, sizeof(vr) * (size_t)most_acc);
    vr *work = aligned_alloc(64, sizeof(vr) * (size_t)(most_work + 9 * MAXW));
    vr *stash = aligned_alloc(64, sizeof(vr) * (size_t)most_stash);
    double loss = NAN;
    if (!wn || !lu || !sigma || !scale || !stored || !adj || !acc || !work || !stash)
        goto out;
    memcpy(wn, params, sizeof(float) * (size_t)n_params);
    for (int i = 0; i < n_layers; i++)
        if (layers[i].kind == LAYER_LINEAR)
            lu_weight(&layers[i], params, lu + 6 * i);
    for (int i = 0, k = 0; i < n_layers; i++) {
        if (!has_mlp(&layers[i])) continue;
        for (int l = 1; l <= layers[i].L; l++, k++) {
            const int *lin = layers[i].lin + 5 * (l - 1);
            int no = layers[i].w[l], ni = layers[i].w[l - 1];
            scale[k] = 1.0;
            sigma[k] = 0.0;
            if (lin[2] < 0) continue;
            const float *W = params + lin[0], *u = uv + lin[2], *v = uv + lin[3];
            double s = 0.0;
            for (int r = 0; r < no; r++) {
                double wv = 0.0;
                for (int c = 0; c < ni; c++) wv += (double)W[r * ni + c] * v[c];
                s += u[r] * wv;
            }
            sigma[k] = s;
            double ratio = s / consts[lin[4]];
            if (ratio > 1.0) {
                scale[k] = 1.0 / ratio;
                float sc = (float)ratio;
                for (int e = 0; e < no * ni; e++) wn[lin[0] + e] = params[lin[0] + e] / sc;
            }
        }
    }
    loss = 0.0;
    /* forward, values only, keeping every layer's input per tile */
    for (int64_t t = 0; t < tiles; t++) {
        int64_t i0 = t * P;
        int np = n - i0 < P ? (int)(n - i0) : P;
        float a0[P] = {0}, a1[P] = {0}, wl[P] = {0};
        for (int q = 0; q < np; q++) { a0[q] = x[2 * (i0 + q)]; a1[q] = x[2 * (i0 + q) + 1]; wl[q] = wt; }
        vr x0, x1, wv;
        memcpy(&x0, a0, sizeof x0);
        memcpy(&x1, a1, sizeof x1);
        memcpy(&wv, wl, sizeof wv);
        for (int i = 0; i < n_layers; i++) {
            stored[(t * n_layers + i) * 2] = x0;
            stored[(t * n_layers + i) * 2 + 1] = x1;
            const Layer *ly = &layers[i];
            if (ly->kind == LAYER_BLOCK || ly->kind == LAYER_COUPLING) {
                vr xt[2] = {x0, x1}, th;
                if (ly->kind == LAYER_BLOCK)
                    block_values_any(xt, ly, wn);
                else
                    coupling_values(xt, ly, wn, consts[ly->arg[1]], &th, 0);
                x0 = xt[0];
                x1 = xt[1];
            } else if (ly->kind == LAYER_LINEAR) {
                const float *W = lu + 6 * i;
                vr y0 = W[0] * x0 + W[1] * x1;
                x1 = W[2] * x0 + W[3] * x1;
                x0 = y0;
            } else {
                const float *bias = wn + layers[i].arg[0], *ls = wn + layers[i].arg[1];
                x0 = (x0 + bias[0]) * expf(ls[0]);
                x1 = (x1 + bias[1]) * expf(ls[1]);
            }
        }
        vr half = 0.5f * (x0 * x0 + x1 * x1);
        float hz[P];
        memcpy(hz, &half, sizeof hz);
        for (int q = 0; q < np; q++) loss += (double)hz[q] + LOG_2PI; /* -log N(z; 0, I), d = 2 */
        adj[2 * t] = wv * x0;
        adj[2 * t + 1] = wv * x1;
    }
    /* backward, layer by layer over all tiles */
    for (int i = n_layers - 1; i >= 0; i--) {
        const Layer *ly = &layers[i];
        if (ly->kind == LAYER_ACTNORM) {
            const float *bias = wn + ly->arg[0], *ls = wn + ly->arg[1];
            float e0 = expf(ls[0]), e1 = expf(ls[1]);
            vr gb0 = {}, gb1 = {}, gl0 = {}, gl1 = {};
            for (int64_t t = 0; t < tiles; t++) {
                int64_t i0 = t * P;
                int np = n - i0 < P ? (int)(n - i0) : P;
                float wl[P] = {0};
                for (int q = 0; q < np; q++) wl[q] = wt;
                vr wv;
                memcpy(&wv, wl, sizeof wv);
                vr x0 = stored[(t * n_layers + i) * 2], x1 = stored[(t * n_layers + i) * 2 + 1];
                vr y0 = (x0 + bias[0]) * e0, y1 = (x1 + bias[1]) * e1;
                vr g0 = adj[2 * t], g1 = adj[2 * t + 1];
                gl0 += g0 * y0 - wv;  /* the log-det sum(log_scale) of every point */
                gl1 += g1 * y1 - wv;
                g0 *= e0;
                g1 *= e1;
                gb0 += g0;
                gb1 += g1;
                adj[2 * t] = g0;
                adj[2 * t + 1] = g1;
                loss -= (double)np * ((double)ls[0] + ls[1]);
            }
            grad[ly->arg[0]] += lanes_sum(gb0);
            grad[ly->arg[0] + 1] += lanes_sum(gb1);
            grad[ly->arg[1]] += lanes_sum(gl0);
            grad[ly->arg[1] + 1] += lanes_sum(gl1);
            continue;
        }
        if (ly->kind == LAYER_LINEAR) {
            lu_backward(ly, lu + 6 * i, params, stored + 2 * i, 2 * n_layers, adj, tiles, n, wt,
                        &loss, grad);
            continue;
        }
        int n_acc = mlp_size(ly), block = ly->kind == LAYER_BLOCK;
        int64_t ss = stash_size(ly, block ? 2 : 0), chunk = stash_chunk(ss, tiles);
        memset(acc, 0, sizeof(vr) * (size_t)n_acc);
        for (int64_t t = 0; t < tiles; t++) {
            vr *slot = stash + t % chunk;
            int64_t i0 = t * P;
            int np = n - i0 < P ? (int)(n - i0) : P;
            float wl[P] = {0};
            for (int q = 0; q < np; q++) wl[q] = wt;
            vr wv;
            memcpy(&wv, wl, sizeof wv);
            const vr *xs = &stored[(t * n_layers + i) * 2];
            if (ly->kind == LAYER_BLOCK)
                block_backward_any(xs[0], xs[1], &adj[2 * t], &adj[2 * t + 1], wv, np, &loss, ly,
                                   wn, acc, work, slot, chunk);
            else
                coupling_backward(xs, &adj[2 * t], wv, np, &loss, ly, wn, consts[ly->arg[1]], acc,
                                  work, slot, chunk);
            int64_t done = t % chunk + 1;
            if (ss && (done == chunk || t == tiles - 1)) { /* the chunk's hidden-to-hidden maps */
                if (block)
                    weight_grad(2, ly, stash, chunk, (int)done, acc);
                else
                    weight_grad(0, ly, stash, chunk, (int)done, acc);
            }
        }
        /* lane sums, then through the spectral rule to the raw weights */
        int k0 = 0;
        for (int j = 0; j < i; j++)
            if (has_mlp(&layers[j])) k0 += layers[j].L;
        const vr *q = acc;
        for (int l = 1; l <= ly->L; l++) {
            const int *lin = ly->lin + 5 * (l - 1);
            int no = ly->w[l], ni = ly->w[l - 1], k = k0 + l - 1;
            float *gw = grad + lin[0], *gb = grad + lin[1];
            if (scale[k] < 1.0) {
                const float *W = params + lin[0], *u = uv + lin[2], *v = uv + lin[3];
                double inner = 0.0;
                for (int e = 0; e < no * ni; e++) inner += (double)lanes_sum(q[e]) * W[e];
                double a = scale[k], bcoef = scale[k] / sigma[k] * inner;
                for (int r = 0; r < no; r++)
                    for (int c = 0; c < ni; c++)
                        gw[r * ni + c] += (float)(a * lanes_sum(q[r * ni + c]) - bcoef * u[r] * v[c]);
            } else {
                for (int e = 0; e < no * ni; e++) gw[e] += lanes_sum(q[e]);
            }
            q += no * ni;
            for (int e = 0; e < no; e++) gb[e] += lanes_sum(q[e]);
            q += no;
        }
    }
out:
    free(layers);
    free(wn);
    free(lu);
    free(sigma);
    free(scale);
    free(stored);
    free(adj);
    free(acc);
    free(work);
    free(stash);
    return loss;
}

/* n_iter power iterations of every constrained map, in place on uv (Sec. 3.1 and Appendix B,
 * eq. 34, as iresnet_core/ops/spectral.py's prefetch_training_rescales runs them before a
 * training forward):
 *     v <- W^T u / |W^T u|,   u <- W v / |W v|,
 * so that sigma = u^T W v afterwards (what nll_grad_2d computes from them). The norms are clamped
 * below at 1e-12 as torch's are. Returns 0, or -1 when meta is malformed or memory cannot be had. */
int power_iter_2d(int n_layers, const int *meta, const float *params, float *uv, int n_iter)
{
    Layer *layers = malloc(sizeof(Layer) * (size_t)(n_layers > 0 ? n_layers : 1));
    double *acc = malloc(sizeof(double) * MAXW);
    int rc = -1;
    if (!layers || !acc || parse(n_layers, meta, layers) != 0)
        goto out;
    for (int i = 0; i < n_layers; i++) {
        if (layers[i].kind != LAYER_BLOCK) continue;
        for (int l = 1; l <= layers[i].L; l++) {
            const int *lin = layers[i].lin + 5 * (l - 1);
            if (lin[2] < 0) continue;
            int no = layers[i].w[l], ni = layers[i].w[l - 1];
            const float *W = params + lin[0];
            float *u = uv + lin[2], *v = uv + lin[3];
            for (int it = 0; it < n_iter; it++) {
                double norm = 0.0;
                for (int c = 0; c < ni; c++) acc[c] = 0.0;
                for (int r = 0; r < no; r++)
                    for (int c = 0; c < ni; c++) acc[c] += (double)u[r] * W[r * ni + c];
                for (int c = 0; c < ni; c++) norm += acc[c] * acc[c];
                norm = sqrt(norm);
                if (norm < 1e-12) norm = 1e-12;
                for (int c = 0; c < ni; c++) v[c] = (float)(acc[c] / norm);
                norm = 0.0;
                for (int r = 0; r < no; r++) {
                    double s = 0.0;
                    for (int c = 0; c < ni; c++) s += (double)W[r * ni + c] * v[c];
                    acc[r] = s;
                    norm += s * s;
                }
                norm = sqrt(norm);
                if (norm < 1e-12) norm = 1e-12;
                for (int r = 0; r < no; r++) u[r] = (float)(acc[r] / norm);
            }
        }
    }
    rc = 0;
out:
    free(layers);
    free(acc);
    return rc;
}

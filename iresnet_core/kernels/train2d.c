/* The i-ResNet's exact training loss and its gradient in one pass: the training step's kernel.
 *
 * Built and loaded by iresnet_core/kernels/build.py; used by iresnet_core/kernels/nll.py
 * (NativeNLL), which falls back to torch's loss wherever this does not apply
 * (kernels.training_engine says which, and why). The loss is the torch path's (Flow.nll in exact
 * mode): the mean over the batch of
 *     -log p(x) = -log N(F(x); 0, I) - sum_blocks ln |det(I + J_g)| - sum_actnorms sum(log_scale)
 * (Behrmann et al. 2019, eq. 1 with eq. 2's log-det taken exactly, the 2 x 2 determinant), each
 * block's weights under the soft spectral rule W / max(1, sigma / c), sigma = u^T W v with the
 * power iteration's u, v held fixed (Sec. 3.1), each block's Jacobian J_g = W_L D_{L-1} ... D_1 W_1
 * carried through the MLP as two tangents beside the values (Sec. 3; the tile of mlp_tile.h, with
 * any of its activations). The gradient is written out by hand (the backward of that forward:
 * J_g is computed, not differentiated, so the backward needs phi'' once), with respect to the raw
 * weights: through the rule,
 *     dL/dW = (c / sigma) G - (c / sigma^2) <G, W> u v^T     when sigma > c, else G,
 * G the gradient with respect to the normalised weights.
 *
 * How: P points travel together in vector registers: a forward pass with values only, then
 * layer by layer backwards over all tiles, each block recomputed from its stored input with
 * values, tangents and log-det, and its gradient accumulated lane-wise in vectors that stay in
 * cache while every tile passes through that block.
 *
 * Layout (float32): x is n x 2, row-major; params is the trainer's flat parameter vector and
 * meta layout.h's description of the layers (residual blocks and ActNorms only here), with each
 * constrained map's u, v offsets into uv and its coefficient c in consts. grad (same layout as
 * params) receives wt times the gradient of the sum over the points, added to what it holds; the
 * return value is the sum over the points of -log p(x) (the caller divides by the batch; wt is
 * 1 / batch for the mean). power_iter_2d, at the start of a training step, advances uv by the
 * step's power iterations before the loss reads it.
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

/* meta as layers (residual blocks and ActNorms only); -1 when it is malformed or holds others. */
static int parse(int n_layers, const int *meta, Layer *out)
{
    if (parse_layers(n_layers, meta, out) != 0)
        return -1;
    for (int i = 0; i < n_layers; i++)
        if (out[i].kind != LAYER_BLOCK && out[i].kind != LAYER_ACTNORM)
            return -1;
    return 0;
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

/* One block's backward on a tile. In: its input x, the adjoint gy of its output, the points'
 * weights wt (0 in padding lanes). Out: the adjoint of x in gy; the block's -ln|det| summed over
 * the n_valid first lanes added to *loss; the gradient with respect to its normalised weights
 * added lane-wise to acc (per map: W then b, vectors). work: 7 vectors per hidden unit, then
 * 9 MAXW of scratch. */
ALWAYS_INLINE void block_backward(int act, vr x0, vr x1, vr *gy0, vr *gy1, vr wt, int n_valid,
                                  double *loss, const Layer *ly, const float *wn, vr *acc,
                                  vr *work)
{
    const int *w = ly->w;
    int L = ly->L;
    /* the forward again (mlp_tile), keeping per hidden layer l: a, h, s = phi'(a),
     * P_i = d a / d x_i, T_i = s P_i */
    vr xin[2] = {x0, x1}, g[2], j0[2], j1[2];
    mlp_tile(act, 2, ly, wn, xin, g, j0, j1, work);
    vr *st[MAXL];
    vr *p = work;
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
    /* the last map gave g and J_g; ln |det(I + J_g)| and its adjoint
     * wt * d(-ln|det|)/dJ = -wt (I + J)^-T */
    int m = w[L - 1];
    const float *W = wn + ly->lin[5 * (L - 1)];
    const vr *h = H_(L - 1), *t0 = T0_(L - 1), *t1 = T1_(L - 1);
    vr j00 = j0[0], j01 = j1[0], j10 = j0[1], j11 = j1[1];
    vr m00 = 1.0f + j00, m11 = 1.0f + j11;
    vr det = m00 * m11 - j01 * j10;
    float d[P];
    memcpy(d, &det, sizeof d);
    for (int q = 0; q < n_valid; q++)
        *loss -= log(fabs((double)d[q]));
    vr c = where(wt != 0.0f, wt / det, (vr){}); /* padding lanes: no adjoint, even where det = 0 */
    vr jb00 = -c * m11, jb01 = c * j10, jb10 = c * j01, jb11 = -c * m00;
    vr g0 = *gy0, g1 = *gy1; /* y = x + g: the adjoint of g is gy's */
    /* adjoints of the last hidden layer's h and T_i, reusing the stored A as scratch is not
     * possible (needed below), so they live after the stored layers */
    vr *hb = p, *tb0 = p + MAXW, *tb1 = p + 2 * MAXW;
    vr *hbn = p + 3 * MAXW, *tbn0 = p + 4 * MAXW, *tbn1 = p + 5 * MAXW;
    vr *ab = p + 6 * MAXW, *pb0 = p + 7 * MAXW, *pb1 = p + 8 * MAXW;
    /* acc offsets per map */
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
    for (int k = 0; k < m; k++) {
        accW[L][k] += g0 * h[k] + jb00 * t0[k] + jb01 * t1[k];
        accW[L][m + k] += g1 * h[k] + jb10 * t0[k] + jb11 * t1[k];
        hb[k] = W[k] * g0 + W[m + k] * g1;
        tb0[k] = W[k] * jb00 + W[m + k] * jb10;
        tb1[k] = W[k] * jb01 + W[m + k] * jb11;
    }
    accb[L][0] += g0;
    accb[L][1] += g1;
    for (int l = L - 1; l >= 1; l--) {
        int n = w[l];
        const vr *a = A_(l), *s = S_(l), *q0 = P0_(l), *q1 = P1_(l);
        for (int k = 0; k < n; k++) { /* h = phi(a), T_i = s P_i with s = phi'(a) */
            vr sb = tb0[k] * q0[k] + tb1[k] * q1[k];
            vr curv = act_second(act, a[k], H_(l)[k], s[k]);
            ab[k] = hb[k] * s[k] + sb * curv;
            pb0[k] = tb0[k] * s[k];
            pb1[k] = tb1[k] * s[k];
            accb[l][k] += ab[k];
        }
        if (l == 1) { /* a_1 = W_1 x + b_1, P_1 = W_1's columns */
            const float *W1 = wn + ly->lin[0];
            vr gx0 = {}, gx1 = {};
            for (int k = 0; k < n; k++) {
                accW[1][2 * k] += ab[k] * x0 + pb0[k];
                accW[1][2 * k + 1] += ab[k] * x1 + pb1[k];
                gx0 += W1[2 * k] * ab[k];
                gx1 += W1[2 * k + 1] * ab[k];
            }
            *gy0 = g0 + gx0;
            *gy1 = g1 + gx1;
            break;
        }
        /* a_l = W_l h_{l-1} + b_l, P_l = W_l T_{l-1} */
        int mm = w[l - 1];
        const float *Wl = wn + ly->lin[5 * (l - 1)];
        const vr *hp = H_(l - 1), *tp0 = T0_(l - 1), *tp1 = T1_(l - 1);
        vr *G = accW[l];
        for (int j = 0; j < mm; j++)
            hbn[j] = tbn0[j] = tbn1[j] = (vr){};
        int k = 0;
        for (; k + KB <= n; k += KB) {
            vr a_[KB], p0_[KB], p1_[KB];
            for (int q = 0; q < KB; q++) {
                a_[q] = ab[k + q]; p0_[q] = pb0[k + q]; p1_[q] = pb1[k + q];
            }
            for (int j = 0; j < mm; j++) {
                vr hj = hp[j], u0 = tp0[j], u1 = tp1[j];
                vr sh = hbn[j], s0 = tbn0[j], s1 = tbn1[j];
                for (int q = 0; q < KB; q++) {
                    float cw = Wl[(k + q) * mm + j];
                    G[(k + q) * mm + j] += a_[q] * hj + p0_[q] * u0 + p1_[q] * u1;
                    sh += cw * a_[q]; s0 += cw * p0_[q]; s1 += cw * p1_[q];
                }
                hbn[j] = sh; tbn0[j] = s0; tbn1[j] = s1;
            }
        }
        for (; k < n; k++) {
            for (int j = 0; j < mm; j++) {
                float cw = Wl[k * mm + j];
                G[k * mm + j] += ab[k] * hp[j] + pb0[k] * tp0[j] + pb1[k] * tp1[j];
                hbn[j] += cw * ab[k]; tbn0[j] += cw * pb0[k]; tbn1[j] += cw * pb1[k];
            }
        }
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

static void block_backward_any(vr x0, vr x1, vr *gy0, vr *gy1, vr wt, int n_valid, double *loss,
                               const Layer *ly, const float *wn, vr *acc, vr *work)
{
    WITH_ACT(ly->act, block_backward, x0, x1, gy0, gy1, wt, n_valid, loss, ly, wn, acc, work);
}

static inline float lanes_sum(vr v)
{
    float a[P], s = 0.0f;
    memcpy(a, &v, sizeof a);
    for (int q = 0; q < P; q++) s += a[q];
    return s;
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
    int n_maps = 0, most_acc = 4, most_work = 0;
    for (int i = 0; i < n_layers; i++)
        if (layers[i].kind == LAYER_BLOCK) {
            int acc = mlp_size(&layers[i]), work = 0;
            for (int l = 1; l < layers[i].L; l++) work += 7 * layers[i].w[l];
            n_maps += layers[i].L;
            if (acc > most_acc) most_acc = acc;
            if (work > most_work) most_work = work;
        }
    double *sigma = malloc(sizeof(double) * (size_t)(n_maps + 1)), *scale = malloc(sizeof(double) * (size_t)(n_maps + 1));
    int64_t tiles = (n + P - 1) / P;
    vr *stored = aligned_alloc(64, sizeof(vr) * (size_t)(tiles * n_layers * 2 + 1));
    vr *adj = aligned_alloc(64, sizeof(vr) * (size_t)(tiles * 2 + 1));
    vr *acc = aligned_alloc(64, sizeof(vr) * (size_t)most_acc);
    vr *work = aligned_alloc(64, sizeof(vr) * (size_t)(most_work + 9 * MAXW));
    double loss = NAN;
    if (!wn || !sigma || !scale || !stored || !adj || !acc || !work)
        goto out;
    memcpy(wn, params, sizeof(float) * (size_t)n_params);
    for (int i = 0, k = 0; i < n_layers; i++) {
        if (layers[i].kind != LAYER_BLOCK) continue;
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
            if (layers[i].kind == LAYER_BLOCK) {
                vr xt[2] = {x0, x1};
                block_values_any(xt, &layers[i], wn);
                x0 = xt[0];
                x1 = xt[1];
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
        int n_acc = mlp_size(ly);
        memset(acc, 0, sizeof(vr) * (size_t)n_acc);
        for (int64_t t = 0; t < tiles; t++) {
            int64_t i0 = t * P;
            int np = n - i0 < P ? (int)(n - i0) : P;
            float wl[P] = {0};
            for (int q = 0; q < np; q++) wl[q] = wt;
            vr wv;
            memcpy(&wv, wl, sizeof wv);
            block_backward_any(stored[(t * n_layers + i) * 2], stored[(t * n_layers + i) * 2 + 1], &adj[2 * t],
                           &adj[2 * t + 1], wv, np, &loss, ly, wn, acc, work);
        }
        /* lane sums, then through the spectral rule to the raw weights */
        int k0 = 0;
        for (int j = 0; j < i; j++)
            if (layers[j].kind == LAYER_BLOCK) k0 += layers[j].L;
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
    free(sigma);
    free(scale);
    free(stored);
    free(adj);
    free(acc);
    free(work);
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

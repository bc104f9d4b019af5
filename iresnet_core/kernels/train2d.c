/* The i-ResNet's exact training loss and its gradient in one pass: the training step's kernel.
 *
 * Built and loaded by iresnet_core/native.py; used by iresnet_core/native_nll.py, which falls back
 * to the compiled or eager torch loss wherever this does not apply. The loss is the torch path's
 * (Flow.nll, iresnet_core/compiled_nll.py): the mean over the batch of
 *     -log p(x) = -log N(F(x); 0, I) - sum_blocks ln |det(I + J_g)| - sum_actnorms sum(log_scale)
 * (Behrmann et al. 2019, eq. 1 with eq. 2's log-det taken exactly, the 2 x 2 determinant), each
 * block's weights under the soft spectral rule W / max(1, sigma / c), sigma = u^T W v with the
 * power iteration's u, v held fixed (Sec. 3.1), each block's Jacobian J_g = W_L D_{L-1} ... D_1 W_1
 * carried through the MLP as two tangents beside the values (Sec. 3). The gradient is written out
 * by hand (the backward of that forward: first derivatives only, J_g is computed, not
 * differentiated), with respect to the raw weights: through the rule,
 *     dL/dW = (c / sigma) G - (c / sigma^2) <G, W> u v^T     when sigma > c, else G,
 * G the gradient with respect to the normalised weights.
 *
 * Why a kernel: through torch the step is some 200 products and 400 fused loops over a batch of
 * 500 points and 32 narrow layers, each call a few microseconds of overhead and a pass over memory
 * (17-20 ms a step, compiled). Here P points travel together in vector registers: a forward pass
 * with values only, then layer by layer backwards over all tiles, each block recomputed from its
 * stored input with values, tangents and log-det, and its gradient accumulated lane-wise in
 * vectors that stay in cache while every tile passes through that block.
 *
 * Layout (float32): x is n x 2, row-major. params is the flat parameter vector; the layers are
 * described by meta, in the flow's order:
 *     ActNorm:          1, bias offset, log_scale offset                 (y = (x + bias) exp(log_scale))
 *     residual block:   0, L, widths w[0..L] (2 first and last), then per linear map
 *                       weight offset (out x in, row-major), bias offset, u offset in uv
 *                       (-1: unconstrained), v offset in uv, index into coeffs
 * grad (same layout as params) receives wt times the gradient of the sum over the points, added
 * to what it holds; the return value is the sum over the points of -log p(x) (the caller divides
 * by the batch; wt is 1 / batch for the mean). power_iter_2d, at the end, advances uv by the
 * training step's one power iteration before the loss reads it.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "simd2d.h"

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#define KB 4         /* output units per pass over a layer's inputs */
#define MAXL 16      /* most linear maps in a block */
#define LOG_2PI 1.8378770664093453

typedef struct {
    int kind;         /* 0: residual block, 1: ActNorm */
    int L;            /* block: number of linear maps */
    const int *w;     /* block: widths w[0..L] */
    const int *lin;   /* block: 5 ints per map (see the header) */
    int bias, log_scale; /* ActNorm: offsets */
} Layer;

/* The meta array as layers; -1 when it is malformed (depth, widths). */
static int parse(int n_layers, const int *meta, Layer *out)
{
    for (int i = 0; i < n_layers; i++) {
        Layer *ly = &out[i];
        ly->kind = *meta++;
        if (ly->kind == 1) {
            ly->bias = *meta++;
            ly->log_scale = *meta++;
            continue;
        }
        if (ly->kind != 0)
            return -1;
        ly->L = *meta++;
        if (ly->L < 2 || ly->L > MAXL)
            return -1;
        ly->w = meta;
        if (ly->w[0] != 2 || ly->w[ly->L] != 2)
            return -1;
        for (int l = 1; l < ly->L; l++)
            if (ly->w[l] < 1 || ly->w[l] > MAXW)
                return -1;
        meta += ly->L + 1;
        ly->lin = meta;
        meta += 5 * ly->L;
    }
    return 0;
}

/* Values only: x <- x + g(x) through the normalised weights wn. */
static void block_values(vf *x0, vf *x1, const Layer *ly, const float *wn)
{
    vf A[MAXW], B[MAXW];
    vf *h = A, *hn = B;
    const int *w = ly->w;
    int L = ly->L, n = w[1];
    const float *W = wn + ly->lin[0], *b = wn + ly->lin[1];
    for (int k = 0; k < n; k++) {
        vf s;
        h[k] = elu(W[2 * k] * *x0 + W[2 * k + 1] * *x1 + b[k], &s);
    }
    for (int l = 2; l < L; l++) {
        int m = w[l - 1];
        n = w[l];
        W = wn + ly->lin[5 * (l - 1)];
        b = wn + ly->lin[5 * (l - 1) + 1];
        int k = 0;
        for (; k + KB <= n; k += KB) { /* KB units at a time: independent sums, each h[j] read once */
            vf a[KB];
            for (int q = 0; q < KB; q++) a[q] = (vf){} + b[k + q];
            for (int j = 0; j < m; j++) {
                vf hj = h[j];
                for (int q = 0; q < KB; q++) a[q] += W[(k + q) * m + j] * hj;
            }
            for (int q = 0; q < KB; q++) {
                vf s;
                hn[k + q] = elu(a[q], &s);
            }
        }
        for (; k < n; k++) {
            vf a = (vf){} + b[k];
            for (int j = 0; j < m; j++) a += W[k * m + j] * h[j];
            vf s;
            hn[k] = elu(a, &s);
        }
        vf *t = h; h = hn; hn = t;
    }
    int m = w[L - 1];
    W = wn + ly->lin[5 * (L - 1)];
    b = wn + ly->lin[5 * (L - 1) + 1];
    vf g0 = (vf){} + b[0], g1 = (vf){} + b[1];
    for (int j = 0; j < m; j++) {
        g0 += W[j] * h[j];
        g1 += W[m + j] * h[j];
    }
    *x0 += g0;
    *x1 += g1;
}

/* One block's backward on a tile. In: its input x, the adjoint gy of its output, the points'
 * weights wt (0 in padding lanes). Out: the adjoint of x in gy; the block's -ln|det| summed over
 * the n_valid first lanes added to *loss; the gradient with respect to its normalised weights
 * added lane-wise to acc (per map: W then b, vectors). work: 7 vectors per hidden unit. */
static void block_backward(vf x0, vf x1, vf *gy0, vf *gy1, vf wt, int n_valid, double *loss, const Layer *ly,
                           const float *wn, vf *acc, vf *work)
{
    const int *w = ly->w;
    int L = ly->L;
    /* the forward again, keeping per hidden layer l: a, h, s = phi'(a), P_i = d a / d x_i, T_i = s P_i */
    vf *st[MAXL];
    vf *p = work;
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
    {
        const float *W = wn + ly->lin[0], *b = wn + ly->lin[1];
        for (int k = 0; k < w[1]; k++) {
            vf s, a = W[2 * k] * x0 + W[2 * k + 1] * x1 + b[k];
            A_(1)[k] = a;
            H_(1)[k] = elu(a, &s);
            S_(1)[k] = s;
            P0_(1)[k] = (vf){} + W[2 * k];
            P1_(1)[k] = (vf){} + W[2 * k + 1];
            T0_(1)[k] = s * W[2 * k];
            T1_(1)[k] = s * W[2 * k + 1];
        }
    }
    for (int l = 2; l < L; l++) {
        int m = w[l - 1], n = w[l];
        const float *W = wn + ly->lin[5 * (l - 1)], *b = wn + ly->lin[5 * (l - 1) + 1];
        const vf *h = H_(l - 1), *t0 = T0_(l - 1), *t1 = T1_(l - 1);
        for (int k = 0; k < n; k += KB) { /* KB units at a time (the last pass may hold fewer) */
            int kb = n - k < KB ? n - k : KB;
            vf a[KB], q0[KB], q1[KB];
            for (int q = 0; q < KB; q++) {
                a[q] = (vf){} + (q < kb ? b[k + q] : 0.0f);
                q0[q] = q1[q] = (vf){};
            }
            for (int j = 0; j < m; j++) {
                vf hj = h[j], u0 = t0[j], u1 = t1[j];
                for (int q = 0; q < KB; q++) {
                    float c = q < kb ? W[(k + q) * m + j] : 0.0f;
                    a[q] += c * hj; q0[q] += c * u0; q1[q] += c * u1;
                }
            }
            for (int q = 0; q < kb; q++) {
                vf s;
                A_(l)[k + q] = a[q];
                H_(l)[k + q] = elu(a[q], &s);
                S_(l)[k + q] = s;
                P0_(l)[k + q] = q0[q];
                P1_(l)[k + q] = q1[q];
                T0_(l)[k + q] = s * q0[q];
                T1_(l)[k + q] = s * q1[q];
            }
        }
    }
    /* the last map: g and J_g, then ln |det(I + J_g)| and its adjoint wt * d(-ln|det|)/dJ = -wt (I + J)^-T */
    int m = w[L - 1];
    const float *W = wn + ly->lin[5 * (L - 1)];
    const vf *h = H_(L - 1), *t0 = T0_(L - 1), *t1 = T1_(L - 1);
    vf j00 = {}, j01 = {}, j10 = {}, j11 = {};
    for (int k = 0; k < m; k++) {
        j00 += W[k] * t0[k]; j01 += W[k] * t1[k];
        j10 += W[m + k] * t0[k]; j11 += W[m + k] * t1[k];
    }
    vf m00 = 1.0f + j00, m11 = 1.0f + j11;
    vf det = m00 * m11 - j01 * j10;
    float d[P];
    memcpy(d, &det, sizeof d);
    for (int q = 0; q < n_valid; q++)
        *loss -= log(fabs((double)d[q]));
    vf c = where(wt != 0.0f, wt / det, (vf){}); /* padding lanes: no adjoint, even where det = 0 */
    vf jb00 = -c * m11, jb01 = c * j10, jb10 = c * j01, jb11 = -c * m00;
    vf g0 = *gy0, g1 = *gy1; /* y = x + g: the adjoint of g is gy's */
    /* adjoints of the last hidden layer's h and T_i, reusing the stored A as scratch is not
     * possible (needed below), so they live after the stored layers */
    vf *hb = p, *tb0 = p + MAXW, *tb1 = p + 2 * MAXW;
    vf *hbn = p + 3 * MAXW, *tbn0 = p + 4 * MAXW, *tbn1 = p + 5 * MAXW;
    vf *ab = p + 6 * MAXW, *pb0 = p + 7 * MAXW, *pb1 = p + 8 * MAXW;
    /* acc offsets per map */
    vf *accW[MAXL + 1], *accb[MAXL + 1];
    {
        vf *q = acc;
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
        const vf *a = A_(l), *s = S_(l), *q0 = P0_(l), *q1 = P1_(l);
        for (int k = 0; k < n; k++) { /* h = phi(a), T_i = s P_i with s = phi'(a): phi'' = s where a <= 0 */
            vf sb = tb0[k] * q0[k] + tb1[k] * q1[k];
            vf curv = where(a[k] > 0.0f, (vf){}, s[k]);
            ab[k] = hb[k] * s[k] + sb * curv;
            pb0[k] = tb0[k] * s[k];
            pb1[k] = tb1[k] * s[k];
            accb[l][k] += ab[k];
        }
        if (l == 1) { /* a_1 = W_1 x + b_1, P_1 = W_1's columns */
            const float *W1 = wn + ly->lin[0];
            vf gx0 = {}, gx1 = {};
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
        const vf *hp = H_(l - 1), *tp0 = T0_(l - 1), *tp1 = T1_(l - 1);
        vf *G = accW[l];
        for (int j = 0; j < mm; j++)
            hbn[j] = tbn0[j] = tbn1[j] = (vf){};
        int k = 0;
        for (; k + KB <= n; k += KB) {
            vf a_[KB], p0_[KB], p1_[KB];
            for (int q = 0; q < KB; q++) {
                a_[q] = ab[k + q]; p0_[q] = pb0[k + q]; p1_[q] = pb1[k + q];
            }
            for (int j = 0; j < mm; j++) {
                vf hj = hp[j], u0 = tp0[j], u1 = tp1[j];
                vf sh = hbn[j], s0 = tbn0[j], s1 = tbn1[j];
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
        vf *t;
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

static inline float lanes_sum(vf v)
{
    float a[P], s = 0.0f;
    memcpy(a, &v, sizeof a);
    for (int q = 0; q < P; q++) s += a[q];
    return s;
}

static double nll_grad_body(int64_t n, const float *x, float wt, int n_layers, const int *meta,
                            const float *params, int64_t n_params, const float *uv, const float *coeffs,
                            float *grad);

/* The sum over the points of -log p(x); grad += wt * its gradient (see the header). Returns NaN when
 * meta is malformed or memory cannot be had. Subnormal numbers are flushed to zero while it runs
 * (the caller's floating-point mode is restored after): a trained flow's ELUs take exp of large
 * negative inputs, and the subnormal products that followed made its step about 20% slower than
 * an untrained one's (155 against 186 steps a second, checkerboard, 2026-12-05); what is flushed is
 * below 1.2e-38 in magnitude. */
double nll_grad_2d(int64_t n, const float *x, float wt, int n_layers, const int *meta, const float *params,
                   int64_t n_params, const float *uv, const float *coeffs, float *grad)
{
#if defined(__SSE__)
    unsigned int csr = _mm_getcsr();
    _mm_setcsr(csr | 0x8040); /* flush-to-zero and denormals-are-zero */
#endif
    double loss = nll_grad_body(n, x, wt, n_layers, meta, params, n_params, uv, coeffs, grad);
#if defined(__SSE__)
    _mm_setcsr(csr);
#endif
    return loss;
}

static double nll_grad_body(int64_t n, const float *x, float wt, int n_layers, const int *meta, const float *params,
                   int64_t n_params, const float *uv, const float *coeffs, float *grad)
{
    Layer *layers = malloc(sizeof(Layer) * (size_t)(n_layers > 0 ? n_layers : 1));
    if (!layers) return NAN;
    if (parse(n_layers, meta, layers) != 0) { free(layers); return NAN; }
    /* the normalised weights: W / max(1, sigma / c), everything else as it is */
    float *wn = malloc(sizeof(float) * (size_t)n_params);
    int n_maps = 0, most_acc = 4, most_work = 0;
    for (int i = 0; i < n_layers; i++)
        if (layers[i].kind == 0) {
            int acc = 0, work = 0;
            for (int l = 1; l <= layers[i].L; l++) acc += layers[i].w[l] * layers[i].w[l - 1] + layers[i].w[l];
            for (int l = 1; l < layers[i].L; l++) work += 7 * layers[i].w[l];
            n_maps += layers[i].L;
            if (acc > most_acc) most_acc = acc;
            if (work > most_work) most_work = work;
        }
    double *sigma = malloc(sizeof(double) * (size_t)(n_maps + 1)), *scale = malloc(sizeof(double) * (size_t)(n_maps + 1));
    int64_t tiles = (n + P - 1) / P;
    vf *stored = aligned_alloc(64, sizeof(vf) * (size_t)(tiles * n_layers * 2 + 1));
    vf *adj = aligned_alloc(64, sizeof(vf) * (size_t)(tiles * 2 + 1));
    vf *acc = aligned_alloc(64, sizeof(vf) * (size_t)most_acc);
    vf *work = aligned_alloc(64, sizeof(vf) * (size_t)(most_work + 9 * MAXW));
    double loss = NAN;
    if (!wn || !sigma || !scale || !stored || !adj || !acc || !work)
        goto out;
    memcpy(wn, params, sizeof(float) * (size_t)n_params);
    for (int i = 0, k = 0; i < n_layers; i++) {
        if (layers[i].kind != 0) continue;
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
            double ratio = s / coeffs[lin[4]];
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
        vf x0, x1, wv;
        memcpy(&x0, a0, sizeof x0);
        memcpy(&x1, a1, sizeof x1);
        memcpy(&wv, wl, sizeof wv);
        for (int i = 0; i < n_layers; i++) {
            stored[(t * n_layers + i) * 2] = x0;
            stored[(t * n_layers + i) * 2 + 1] = x1;
            if (layers[i].kind == 0) {
                block_values(&x0, &x1, &layers[i], wn);
            } else {
                const float *bias = wn + layers[i].bias, *ls = wn + layers[i].log_scale;
                x0 = (x0 + bias[0]) * expf(ls[0]);
                x1 = (x1 + bias[1]) * expf(ls[1]);
            }
        }
        vf half = 0.5f * (x0 * x0 + x1 * x1);
        float hz[P];
        memcpy(hz, &half, sizeof hz);
        for (int q = 0; q < np; q++) loss += (double)hz[q] + LOG_2PI; /* -log N(z; 0, I), d = 2 */
        adj[2 * t] = wv * x0;
        adj[2 * t + 1] = wv * x1;
    }
    /* backward, layer by layer over all tiles */
    for (int i = n_layers - 1; i >= 0; i--) {
        const Layer *ly = &layers[i];
        if (ly->kind == 1) {
            const float *bias = wn + ly->bias, *ls = wn + ly->log_scale;
            float e0 = expf(ls[0]), e1 = expf(ls[1]);
            vf gb0 = {}, gb1 = {}, gl0 = {}, gl1 = {};
            for (int64_t t = 0; t < tiles; t++) {
                int64_t i0 = t * P;
                int np = n - i0 < P ? (int)(n - i0) : P;
                float wl[P] = {0};
                for (int q = 0; q < np; q++) wl[q] = wt;
                vf wv;
                memcpy(&wv, wl, sizeof wv);
                vf x0 = stored[(t * n_layers + i) * 2], x1 = stored[(t * n_layers + i) * 2 + 1];
                vf y0 = (x0 + bias[0]) * e0, y1 = (x1 + bias[1]) * e1;
                vf g0 = adj[2 * t], g1 = adj[2 * t + 1];
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
            grad[ly->bias] += lanes_sum(gb0);
            grad[ly->bias + 1] += lanes_sum(gb1);
            grad[ly->log_scale] += lanes_sum(gl0);
            grad[ly->log_scale + 1] += lanes_sum(gl1);
            continue;
        }
        int n_acc = 0;
        for (int l = 1; l <= ly->L; l++) n_acc += ly->w[l] * ly->w[l - 1] + ly->w[l];
        memset(acc, 0, sizeof(vf) * (size_t)n_acc);
        for (int64_t t = 0; t < tiles; t++) {
            int64_t i0 = t * P;
            int np = n - i0 < P ? (int)(n - i0) : P;
            float wl[P] = {0};
            for (int q = 0; q < np; q++) wl[q] = wt;
            vf wv;
            memcpy(&wv, wl, sizeof wv);
            block_backward(stored[(t * n_layers + i) * 2], stored[(t * n_layers + i) * 2 + 1], &adj[2 * t],
                           &adj[2 * t + 1], wv, np, &loss, ly, wn, acc, work);
        }
        /* lane sums, then through the spectral rule to the raw weights */
        int k0 = 0;
        for (int j = 0; j < i; j++)
            if (layers[j].kind == 0) k0 += layers[j].L;
        const vf *q = acc;
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

/* One power iteration of every constrained map, in place on uv (Sec. 3.1, as
 * lipschitz.prefetch_training_rescales runs it before a training forward):
 *     v <- W^T u / |W^T u|,   u <- W v / |W v|,
 * so that sigma = u^T W v afterwards (what nll_grad_2d computes from them). The norms are clamped
 * below at 1e-12 as torch's are. Returns 0, or -1 when meta is malformed or memory cannot be had. */
int power_iter_2d(int n_layers, const int *meta, const float *params, float *uv)
{
    Layer *layers = malloc(sizeof(Layer) * (size_t)(n_layers > 0 ? n_layers : 1));
    double *acc = malloc(sizeof(double) * MAXW);
    int rc = -1;
    if (!layers || !acc || parse(n_layers, meta, layers) != 0)
        goto out;
    for (int i = 0; i < n_layers; i++) {
        if (layers[i].kind != 0) continue;
        for (int l = 1; l <= layers[i].L; l++) {
            const int *lin = layers[i].lin + 5 * (l - 1);
            if (lin[2] < 0) continue;
            int no = layers[i].w[l], ni = layers[i].w[l - 1];
            const float *W = params + lin[0];
            float *u = uv + lin[2], *v = uv + lin[3];
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
    rc = 0;
out:
    free(layers);
    free(acc);
    return rc;
}

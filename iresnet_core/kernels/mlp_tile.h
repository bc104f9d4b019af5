/* The MLP tile, written once for the three kernels: g(x) = W_L phi(... phi(W_1 x + b_1) ...) + b_L,
 * the residual branch of an i-ResNet block (Behrmann et al. 2019, Sec. 2) or the conditioner of
 * Glow's affine coupling (Kingma & Dhariwal 2018, Sec. 3.3), on a tile of LANES points at once.
 * For the log-determinant the two tangents d a / d x_0 and d a / d x_1 of every unit travel beside
 * its value, so that the 2 x 2 Jacobian J_g = W_L D_{L-1} W_{L-1} ... D_1 W_1 with
 * D_l = diag(phi'(a_l)) (Sec. 3) comes out of the same pass: the forward of
 * iresnet_core/ops/mlp.py's g_and_jacobian, a tile at a time.
 *
 * Scalar type: a kernel that defines MLP_FLOAT64 before including this header gets float64
 * (fixed_point2d.c, LANES = 8), the others float32 (density2d.c, train2d.c, LANES = 16); either
 * way a tile is one 64-byte vector, an AVX-512 register or two AVX2 ones. GCC/Clang vector
 * extensions, no intrinsics: -march=native picks the machine's widest registers.
 *
 * The activations are iresnet_core/ops/activations.py's, with phi, phi' and phi'' (train2d.c's
 * backward differentiates phi'), all 1-Lipschitz with a continuous derivative (Sec. 3):
 *     elu       a > 0 ? a : e^a - 1                 phi' = e^min(a, 0)
 *     tanh      tanh(a)                             phi' = 1 - tanh(a)^2
 *     softplus  a > 20 ? a : log(1 + e^a)           phi' = sigmoid(a)   (torch's threshold)
 *     lipswish  a sigmoid(a) / 1.1                  phi' = (s + a s (1 - s)) / 1.1, s = sigmoid(a)
 *               (Chen et al. 2019, Residual Flows)
 * A NaN input stays NaN through each, as it does through torch.
 */
#ifndef IRESNET_MLP_TILE_H
#define IRESNET_MLP_TILE_H

#include <stdint.h>

#include "layout.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))
/* Output units per pass over a layer's inputs, each input row serving them all: KB where the
 * tangents travel too (three sums per unit), KBV for values only, enough independent sums to keep
 * the multiply-adds' pipeline full. */
#define KB 4
#define KBV 8
#define UNITS(nt) ((nt) ? KB : KBV)

#ifdef MLP_FLOAT64
typedef double real;
typedef int64_t ireal;
#define LANES 8
#else
typedef float real;
typedef int32_t ireal;
#define LANES 16
#endif
/* A tile of reals, and the lane masks that comparing two gives (all bits set where true). */
typedef real vr __attribute__((vector_size(sizeof(real) * LANES)));
typedef ireal vm __attribute__((vector_size(sizeof(real) * LANES)));

ALWAYS_INLINE vr splat(real c) { return (vr){} + c; }

/* Lane-wise select, written so that a NaN lane stays NaN, as it would through torch. */
ALWAYS_INLINE vr where(vm m, vr a, vr b) { return (vr)((m & (vm)a) | (~m & (vm)b)); }

#ifdef MLP_FLOAT64
/* exp(x): Cephes' exp, 2^n times a Pade form on |r| <= ln 2 / 2, relative error ~2e-16; x is
 * clamped to [-708, 709], so the result is never subnormal, 0 or inf (NaN stays NaN). */
static inline vr vexp(vr x)
{
    x = where(x < -708.0, splat(-708.0), x);
    x = where(x > 709.0, splat(709.0), x);
    vr t = x * 1.4426950408889634073599;
    vr n = (t + 6755399441055744.0) - 6755399441055744.0; /* round to nearest, |t| < 2^51 */
    x = x - n * 6.93145751953125e-1;
    x = x - n * 1.42860682030941723212e-6;
    vr xx = x * x;
    vr p = x * ((1.26177193074810590878e-4 * xx + 3.02994407707441961300e-2) * xx
                + 9.99999999999999999910e-1);
    vr q = ((3.00198505138664455042e-6 * xx + 2.52448340349684104192e-3) * xx
            + 2.27265548208155028766e-1) * xx + 2.00000000000000000009e0;
    vr r = 1.0 + 2.0 * (p / (q - p));
    vm e = (__builtin_convertvector(n, vm) + 1023) << 52;
    return r * (vr)e;
}

/* ln(x) for finite x > 0 (NaN stays NaN): Cephes' log, x = 2^e m with m in [sqrt(1/2), sqrt(2)),
 * ln m = z - z^2 / 2 + z^3 P(z) / Q(z), z = m - 1; relative error ~1e-16. */
static inline vr vlog(vr x)
{
    vm bits = (vm)x;
    vm e = ((bits >> 52) & 0x7ff) - 1022;
    vr m = (vr)((bits & 0x000fffffffffffffLL) | 0x3fe0000000000000LL); /* [0.5, 1) */
    vm lo = m < 0.70710678118654752440;
    e += lo; /* -1 where m < sqrt(1/2), which doubles */
    m = where(lo, m + m, m) - 1.0;
    vr z = m * m;
    vr p = ((((1.01875663804580931796e-4 * m + 4.97494994976747001425e-1) * m
              + 4.70579119878881725854e0) * m + 1.44989225341610930846e1) * m
            + 1.79368678507819816313e1) * m + 7.70838733755885391666e0;
    vr q = ((((m + 1.12873587189167450590e1) * m + 4.52279145837532221105e1) * m
             + 8.29875266912776603211e1) * m + 7.11544750618563894466e1) * m
           + 2.31251620126765340583e1;
    vr fe = __builtin_convertvector(e, vr);
    vr y = m * (z * p / q) - fe * 2.121944400546905827679e-4 - 0.5 * z;
    return where(x == x, (m + y) + fe * 0.693359375, x);
}

/* tanh(x): Cephes' tanh, x + x^3 P(x^2) / Q(x^2) for |x| < 0.625, 1 - 2 / (e^2|x| + 1) above
 * (signed); relative error ~1e-16. */
static inline vr vtanh(vr x)
{
    vm neg = x < 0.0;
    vr z = where(neg, -x, x);
    vr big = 1.0 - 2.0 / (vexp(z + z) + 1.0);
    vr s = x * x;
    vr p = (-9.64399179425052238628e-1 * s - 9.92877231001918586564e1) * s
           - 1.61468768441708447952e3;
    vr q = ((s + 1.12811678491632931402e2) * s + 2.23548839060100448583e3) * s
           + 4.84406305325125486048e3;
    vr small = x + x * s * (p / q);
    return where(z >= 0.625, where(neg, -big, big), small);
}
#else
/* exp(x), 2^n e^r with |r| <= ln 2 / 2 and the polynomial of Cephes' expf, relative error ~1e-7;
 * x is clamped to [-87, 88], so the result is never a subnormal, 0 or inf (NaN stays NaN). */
static inline vr vexp(vr x)
{
    x = where(x < -87.0f, splat(-87.0f), x);
    x = where(x > 88.0f, splat(88.0f), x);
    vr t = x * 1.44269504088896341f;
    vr n = (t + 12582912.0f) - 12582912.0f; /* round to nearest, |t| < 2^22 */
    vr r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    vr y = splat(1.9875691500e-4f);
    y = y * r + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * r * r + r + 1.0f;
    vm e = (__builtin_convertvector(n, vm) + 127) << 23;
    return y * (vr)e;
}

/* ln(x) for finite x > 0 (NaN stays NaN): Cephes' logf, x = 2^e m with m in [sqrt(1/2), sqrt(2)),
 * a polynomial in z = m - 1; relative error ~1e-7. */
static inline vr vlog(vr x)
{
    vm bits = (vm)x;
    vm e = ((bits >> 23) & 0xff) - 126;
    vr m = (vr)((bits & 0x007fffff) | 0x3f000000); /* [0.5, 1) */
    vm lo = m < 0.70710678118654752440f;
    e += lo; /* -1 where m < sqrt(1/2), which doubles */
    m = where(lo, m + m, m) - 1.0f;
    vr z = m * m;
    vr y = splat(7.0376836292e-2f);
    y = y * m - 1.1514610310e-1f;
    y = y * m + 1.1676998740e-1f;
    y = y * m - 1.2420140846e-1f;
    y = y * m + 1.4249322787e-1f;
    y = y * m - 1.6668057665e-1f;
    y = y * m + 2.0000714765e-1f;
    y = y * m - 2.4999993993e-1f;
    y = y * m + 3.3333331174e-1f;
    vr fe = __builtin_convertvector(e, vr);
    y = y * m * z - 2.12194440e-4f * fe - 0.5f * z;
    return where(x == x, (m + y) + 0.693359375f * fe, x);
}

/* tanh(x): Cephes' tanhf, an odd polynomial for |x| <= 0.625, 1 - 2 / (e^2|x| + 1) above
 * (signed); absolute error ~1e-7. */
static inline vr vtanh(vr x)
{
    vm neg = x < 0.0f;
    vr z = where(neg, -x, x);
    vr big = 1.0f - 2.0f / (vexp(z + z) + 1.0f);
    vr s = x * x;
    vr small = ((((-5.70498872745e-3f * s + 2.06390887954e-2f) * s - 5.37397155531e-2f) * s
                 + 1.33314422036e-1f) * s - 3.33332819422e-1f) * s * x + x;
    return where(z > 0.625f, where(neg, -big, big), small);
}
#endif

/* log(1 + u) for u >= 0: log(w) u / (w - 1) with w = 1 + u rounded, which cancels w's rounding
 * (Goldberg 1991, Theorem 4); u itself where w rounds to 1. */
static inline vr vlog1p(vr u)
{
    vr w = 1 + u;
    vr d = w - 1;
    return where(d == 0, u, vlog(w) * (u / d));
}

static inline vr vsigmoid(vr a) { return 1 / (1 + vexp(-a)); }

/* An affine coupling's log-scale s from its conditioner's raw output (Kingma & Dhariwal 2018, Sec.
 * 3.3), and ds/draw in *ds. bound > 0: s = bound tanh(raw / bound), the coupling y = x e^s + t;
 * bound == 0: Glow's code's form, s = log sigmoid(raw + 2), the coupling y = (x + t) e^s
 * (iresnet_core.flows.glow.AffineCoupling's scale_map). log sigmoid(a) = min(a, 0) -
 * log1p(exp(-|a|)) stays finite for every a. */
static inline vr coupling_log_scale(vr raw, float bound, vr *ds)
{
    if (bound > 0) {
        vr th = vtanh(raw / bound);
        *ds = 1 - th * th;
        return bound * th;
    }
    vr a = raw + 2;
    vr neg = where(a < 0, a, (vr){});
    vr mag = where(a < 0, -a, a);
    *ds = vsigmoid(-a); /* d log sigmoid(a) / da = 1 - sigmoid(a) */
    return neg - vlog1p(vexp(-mag));
}

/* phi(a), and phi'(a) in *s, for the activation `code` (ACT_NONE: the identity, s = 1). Called
 * with a constant code, the switch folds away (WITH_ACT). */
ALWAYS_INLINE vr act_value(int code, vr a, vr *s)
{
    switch (code) {
    case ACT_ELU: { /* s = exp(min(a, 0)); phi = a above 0, s - 1 below */
        vm pos = a > 0;
        *s = vexp(where(pos, splat(0), a));
        return where(pos, a, *s - 1);
    }
    case ACT_TANH: {
        vr h = vtanh(a);
        *s = 1 - h * h;
        return h;
    }
    case ACT_SOFTPLUS: {
        vm linear = a > 20;
        *s = vsigmoid(a);
        return where(linear, a, vlog1p(vexp(where(linear, splat(0), a))));
    }
    case ACT_LIPSWISH: {
        vr sg = vsigmoid(a);
        *s = (sg + a * sg * (1 - sg)) / (real)1.1;
        return a * sg / (real)1.1;
    }
    default:
        *s = splat(1);
        return a;
    }
}

/* phi''(a), given h = phi(a) and s = phi'(a) (as activations.py's second_derivative). */
ALWAYS_INLINE vr act_second(int code, vr a, vr h, vr s)
{
    switch (code) {
    case ACT_ELU: /* e^a below 0, 0 above */
        return where(a > 0, splat(0), s);
    case ACT_TANH:
        return -2 * h * s;
    case ACT_SOFTPLUS:
        return s * (1 - s);
    case ACT_LIPSWISH: {
        vr sg = vsigmoid(a);
        return sg * (1 - sg) * (2 + a * (1 - 2 * sg)) / (real)1.1;
    }
    default:
        return splat(0);
    }
}

/* Calls F(code, ...) with the block's activation as a compile-time constant: each activation gets
 * its own copy of the loops, with act_value's switch folded away. */
/* Calls F(code, ...): for ELU (the paper's, and the Playground's default) with the activation as a
 * compile-time constant, so that its loops get a copy of their own with act_value's switch folded
 * away; for the others with the code as it is (one copy for the three: a switch per unit and
 * tile, outside the loops over the inputs). */
#define WITH_ACT(code, F, ...)                                                                     \
    do {                                                                                           \
        if ((code) == ACT_ELU)                                                                     \
            F(ACT_ELU, __VA_ARGS__);                                                               \
        else                                                                                       \
            F(code, __VA_ARGS__);                                                                  \
    } while (0)

/* Where one layer's outputs go: h = phi(a), t_i = phi'(a) p_i (NT = 2); a, s = phi'(a) and the
 * tangents' pre-activations p_i also where not NULL (train2d.c's backward keeps them). */
typedef struct {
    vr *h, *t0, *t1, *a, *s, *p0, *p1;
} LayerOut;

/* Units k .. k + kb - 1 of one layer, kb <= kmax, kmax a constant (UNITS(nt), or the last map's 2)
 * so that the loops unroll, the units past kb computed with weights 0: a = b + W h,
 * p_i = W t_i (NT = 2), then the activation. */
ALWAYS_INLINE void mlp_units(int act, int nt, int kmax, int kb, int k, int m, const real *W,
                             const real *b, const vr *h, const vr *t0, const vr *t1, LayerOut o)
{
    vr a[KBV], q0[KBV], q1[KBV];
    for (int q = 0; q < kmax; q++) {
        a[q] = splat(q < kb ? b[k + q] : 0);
        q0[q] = q1[q] = (vr){};
    }
    for (int j = 0; j < m; j++) {
        vr hj = h[j], u0 = {}, u1 = {};
        if (nt) {
            u0 = t0[j];
            u1 = t1[j];
        }
        for (int q = 0; q < kmax; q++) {
            real c = q < kb ? W[(k + q) * m + j] : 0;
            a[q] += c * hj;
            if (nt) {
                q0[q] += c * u0;
                q1[q] += c * u1;
            }
        }
    }
    for (int q = 0; q < kb; q++) {
        vr s, y = act_value(act, a[q], &s);
        o.h[k + q] = y;
        if (o.a) o.a[k + q] = a[q];
        if (o.s) o.s[k + q] = s;
        if (nt) {
            o.t0[k + q] = s * q0[q];
            o.t1[k + q] = s * q1[q];
            if (o.p0) {
                o.p0[k + q] = q0[q];
                o.p1[k + q] = q1[q];
            }
        }
    }
}

/* One hidden layer, m inputs to n units, UNITS(nt) units per pass over the inputs (the last pass
 * the n mod UNITS(nt) left, the empty units' weights taken as 0). */
ALWAYS_INLINE void mlp_layer(int act, int nt, int m, int n, const real *W, const real *b,
                             const vr *h, const vr *t0, const vr *t1, LayerOut o)
{
    int k = 0;
    for (; k + UNITS(nt) <= n; k += UNITS(nt))
        mlp_units(act, nt, UNITS(nt), UNITS(nt), k, m, W, b, h, t0, t1, o);
    if (k < n)
        mlp_units(act, nt, UNITS(nt), n - k, k, m, W, b, h, t0, t1, o);
}

/* g(x) of a tile through the MLP of `ly` (weights at its offsets into prm), and with nt = 2 its
 * Jacobian: x holds w[0] inputs (2 for a block, 1 for a coupling's conditioner), g receives the
 * w[L] = 2 outputs and (nt = 2) j0[o] = d g_o / d x_0, j1[o] = d g_o / d x_1. keep: NULL, or room
 * for 7 vectors per hidden unit where each hidden layer l leaves, one array of w[l] after the
 * other, a, h = phi(a), s = phi'(a), P_0, P_1 (d a / d x_i) and T_0, T_1 (s P_i), layer after
 * layer (nt = 2 only; train2d.c's backward reads them). */
ALWAYS_INLINE void mlp_tile(int act, int nt, const Layer *ly, const real *prm, const vr *x, vr *g,
                            vr *j0, vr *j1, vr *keep)
{
    vr buf[2][3][MAXW];
    vr e0[2] = {splat(1), splat(0)}, e1[2] = {splat(0), splat(1)}; /* d x / d x_0, d x / d x_1 */
    const vr *h = x, *t0 = e0, *t1 = e1;
    const int *w = ly->w;
    int L = ly->L;
    for (int l = 1; l < L; l++) {
        int m = w[l - 1], n = w[l];
        const real *W = prm + ly->lin[5 * (l - 1)], *b = prm + ly->lin[5 * (l - 1) + 1];
        LayerOut o = {0};
        if (keep) {
            o.a = keep;
            o.h = keep + n;
            o.s = keep + 2 * n;
            o.p0 = keep + 3 * n;
            o.p1 = keep + 4 * n;
            o.t0 = keep + 5 * n;
            o.t1 = keep + 6 * n;
            keep += 7 * n;
        } else {
            o.h = buf[l & 1][0];
            o.t0 = buf[l & 1][1];
            o.t1 = buf[l & 1][2];
        }
        mlp_layer(act, nt, m, n, W, b, h, t0, t1, o);
        h = o.h;
        t0 = o.t0;
        t1 = o.t1;
    }
    /* the last map: its 2 outputs in one pass, no activation */
    LayerOut o = {.h = g, .t0 = j0, .t1 = j1};
    const real *W = prm + ly->lin[5 * (L - 1)], *b = prm + ly->lin[5 * (L - 1) + 1];
    mlp_units(ACT_NONE, nt, 2, 2, 0, w[L - 1], W, b, h, t0, t1, o);
}

#endif

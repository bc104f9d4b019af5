/* One description of a 2D flow's layers, read by the three kernels (density2d.c, fixed_point2d.c,
 * train2d.c) and written by one Python function (iresnet_core/kernels/layout.py, which documents
 * the same grammar and must keep these numbers).
 *
 * meta is an int array, one entry per layer in the flow's order:
 *
 *     residual block   0, activation, L, w[0] .. w[L], then per linear map: W, b, u, v, c
 *     ActNorm          1, bias, log_scale
 *     LU linear map    2, swap, sign_0, sign_1, lower, upper, log_s
 *     affine coupling  3, parity, bound, L, w[0] .. w[L], then per linear map: W, b, u, v, c
 *
 * A block (Behrmann et al. 2019, Sec. 2) is y = x + g(x) with g an MLP of L linear maps of widths
 * w[0] = 2, ..., w[L] = 2 and the activation between them (ACT_*). W (out x in, row-major), b,
 * bias, log_scale, lower, upper and log_s are offsets into the parameter vector; u and v offsets
 * into the power iteration's vector, -1 where the map is used as it is (already normalised, or
 * unconstrained); c an index into consts (the map's Lipschitz coefficient), -1 with u.
 * ActNorm: y = (x + bias) exp(log_scale) (Kingma & Dhariwal 2018, Sec. 3.1).
 * LU linear map (Glow's 1x1 convolution in 2D, Sec. 3.2): W = P L U' with P the identity or
 * (swap = 1) the exchange, L = [[1, 0], [lower, 1]], U' = [[sign_0 e^log_s[0], upper],
 * [0, sign_1 e^log_s[1]]]; log |det W| = log_s[0] + log_s[1].
 * Affine coupling (Sec. 3.3): the coordinate x[parity] conditions, through an ELU MLP of widths
 * w[0] = 1, ..., w[L] = 2, the raw log-scale and the shift of the other; the scale is
 * bound tanh(raw / bound), bound = consts[bound].
 */
#ifndef IRESNET_LAYOUT_H
#define IRESNET_LAYOUT_H

#define MAXW 256 /* widest hidden layer (layout.py's MAX_WIDTH) */
#define MAXL 32  /* most linear maps in one MLP (layout.py's MAX_MAPS) */

enum { LAYER_BLOCK = 0, LAYER_ACTNORM = 1, LAYER_LINEAR = 2, LAYER_COUPLING = 3 };
/* The activations, in layout.py's order; ACT_NONE is the last map's identity. */
enum { ACT_NONE = -1, ACT_ELU = 0, ACT_TANH = 1, ACT_SOFTPLUS = 2, ACT_LIPSWISH = 3 };

typedef struct {
    int kind;
    int act;         /* block: ACT_*; coupling: ACT_ELU */
    int L;           /* block, coupling: number of linear maps */
    const int *w;    /* block, coupling: widths w[0..L] */
    const int *lin;  /* block, coupling: 5 ints per map: W, b, u, v, c */
    int arg[6];      /* ActNorm: bias, log_scale; linear: swap, sign_0, sign_1, lower, upper,
                        log_s; coupling: parity, bound */
} Layer;

/* The MLP part (L, widths, maps) of a block or coupling at meta; the next entry, or NULL when it
 * is malformed (depth, widths). */
static const int *parse_mlp(const int *meta, Layer *ly, int in_width)
{
    ly->L = *meta++;
    if (ly->L < 2 || ly->L > MAXL)
        return 0;
    ly->w = meta;
    if (ly->w[0] != in_width || ly->w[ly->L] != 2)
        return 0;
    for (int l = 1; l < ly->L; l++)
        if (ly->w[l] < 1 || ly->w[l] > MAXW)
            return 0;
    meta += ly->L + 1;
    ly->lin = meta;
    return meta + 5 * ly->L;
}

/* meta as n_layers layers into out; 0, or -1 when it is malformed. */
static int parse_layers(int n_layers, const int *meta, Layer *out)
{
    for (int i = 0; i < n_layers; i++) {
        Layer *ly = &out[i];
        ly->kind = *meta++;
        ly->act = ACT_ELU;
        if (ly->kind == LAYER_BLOCK) {
            ly->act = *meta++;
            if (ly->act < ACT_ELU || ly->act > ACT_LIPSWISH)
                return -1;
            meta = parse_mlp(meta, ly, 2);
        } else if (ly->kind == LAYER_ACTNORM) {
            ly->arg[0] = *meta++;
            ly->arg[1] = *meta++;
        } else if (ly->kind == LAYER_LINEAR) {
            for (int k = 0; k < 6; k++)
                ly->arg[k] = *meta++;
        } else if (ly->kind == LAYER_COUPLING) {
            ly->arg[0] = *meta++;
            ly->arg[1] = *meta++;
            if (ly->arg[0] != 0 && ly->arg[0] != 1)
                return -1;
            meta = parse_mlp(meta, ly, 1);
        } else {
            return -1;
        }
        if (!meta)
            return -1;
    }
    return 0;
}

/* The number of parameters (weights and biases) of a block's or coupling's MLP. */
static inline int mlp_size(const Layer *ly)
{
    int size = 0;
    for (int l = 1; l <= ly->L; l++)
        size += ly->w[l] * ly->w[l - 1] + ly->w[l];
    return size;
}

#endif

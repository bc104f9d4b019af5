/* What the 2D kernels share: the tile of P points in one vector, lane-wise selects, exp and ELU.
 *
 * Included by density2d.c and train2d.c (iresnet_core/native.py builds them into one library and
 * hashes this header with them). GCC/Clang vector extension, no intrinsics: -march=native picks
 * the machine's widest registers.
 */
#ifndef IRESNET_SIMD2D_H
#define IRESNET_SIMD2D_H

#include <stdint.h>

#define P 16      /* points per tile: one AVX-512 register of float32 (two AVX2 ones) */
#define MAXW 256  /* widest hidden layer; native.py sends wider flows to torch */

typedef float vf __attribute__((vector_size(4 * P)));
typedef int32_t vi __attribute__((vector_size(4 * P)));

/* Lane-wise selects written so that a NaN lane stays NaN, as it would through torch. */
static inline vf where(vi m, vf a, vf b) { return (vf)((m & (vi)a) | (~m & (vi)b)); }

/* exp(x), 2^n e^r with |r| <= ln 2 / 2 and the polynomial of Cephes' expf, relative error ~1e-7;
 * x is clamped to [-87, 88], so the result is never a subnormal, 0 or inf (NaN stays NaN). */
static inline vf vexp(vf x)
{
    x = where(x < -87.0f, (vf){} - 87.0f, x);
    x = where(x > 88.0f, (vf){} + 88.0f, x);
    vf t = x * 1.44269504088896341f;
    vf n = (t + 12582912.0f) - 12582912.0f; /* round to nearest, |t| < 2^22 */
    vf r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    vf y = (vf){} + 1.9875691500e-4f;
    y = y * r + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * r * r + r + 1.0f;
    vi e = (__builtin_convertvector(n, vi) + 127) << 23;
    return y * (vf)e;
}

/* ELU and its derivative: s = phi'(a) = exp(min(a, 0)), phi(a) = a for a > 0, s - 1 otherwise. */
static inline vf elu(vf a, vf *s)
{
    vi pos = a > 0.0f;
    *s = vexp(where(pos, (vf){}, a));
    return where(pos, a, *s - 1.0f);
}

#endif

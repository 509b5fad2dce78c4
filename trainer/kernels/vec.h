// Vectorisable float32 element-wise kernels (scorelens/trainer/kernels, vec.go). GCC
// vectorises these loops at -O3; target_clones adds an AVX2+FMA version chosen at load
// time, with the baseline x86-64 (SSE2) version as the fallback. no-trapping-math (no
// FP exception flags are read) lets GCC turn the clamps into blends and vectorise.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3", "no-trapping-math")
#endif
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SL_CLONES __attribute__((target_clones("avx2,fma", "default")))
#else
#define SL_CLONES
#endif

// e^x for x already clamped to [-87.3, 88.7]: the same range reduction and degree-6
// polynomial as exp32 in exp32.go.
static inline float sl_exp(float x) {
	float n = (x * 1.4426950408889634f + 12582912.0f) - 12582912.0f;
	float g = x - n * 0.693359375f + n * 2.12194440e-4f;
	float g2 = g * g;
	float p = (1.0f + g) + g2 * ((0.5f + g * (1.0f / 6)) + g2 * ((1.0f / 24 + g * (1.0f / 120)) + g2 * (1.0f / 720)));
	int32_t e = ((int32_t)n + 127) << 23;
	float s;
	memcpy(&s, &e, 4);
	return s * p;
}

static inline float sl_sigmoid(float x) {
	float a = -x;
	a = a < -87.3f ? -87.3f : a;
	a = a > 88.7f ? 88.7f : a;
	return 1.0f / (1.0f + sl_exp(a));
}

SL_CLONES static void sl_silu(float *restrict y, const float *restrict x, long n) {
	for (long i = 0; i < n; i++) {
		float v = x[i];
		y[i] = v * sl_sigmoid(v);
	}
}

SL_CLONES static void sl_silu_bwd(float *restrict dx, const float *restrict x, const float *restrict dy, long n) {
	for (long i = 0; i < n; i++) {
		float v = x[i];
		float s = sl_sigmoid(v);
		dx[i] = dy[i] * s * (1.0f + v * (1.0f - s));
	}
}

// y += x
SL_CLONES static void sl_add(float *restrict y, const float *restrict x, long n) {
	for (long i = 0; i < n; i++) y[i] += x[i];
}

// The reductions below keep 8 independent double accumulators (lanes), so that the
// compiler can vectorise them without reassociating (a single accumulator is a chain of
// dependent additions); the lanes are combined in a fixed order, so results do not depend
// on the machine.
#define SL_LANES 8

static inline double sl_combine(const double *l) {
	return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

// Σ x in double.
SL_CLONES static double sl_sum(const float *restrict x, long n) {
	double s[SL_LANES] = {0};
	long i = 0;
	for (; i + SL_LANES <= n; i += SL_LANES)
		for (int l = 0; l < SL_LANES; l++) s[l] += (double)x[i + l];
	for (; i < n; i++) s[0] += (double)x[i];
	return sl_combine(s);
}

// Sums of x and x² in double (GroupNorm statistics).
SL_CLONES static void sl_stats(const float *restrict x, long n, double *sum, double *sum2) {
	double s[SL_LANES] = {0}, s2[SL_LANES] = {0};
	long i = 0;
	for (; i + SL_LANES <= n; i += SL_LANES)
		for (int l = 0; l < SL_LANES; l++) {
			double f = x[i + l];
			s[l] += f;
			s2[l] += f * f;
		}
	for (; i < n; i++) {
		double f = x[i];
		s[0] += f;
		s2[0] += f * f;
	}
	*sum = sl_combine(s);
	*sum2 = sl_combine(s2);
}

// Σ dy and Σ dy·(x − mean) in double (GroupNorm backward).
SL_CLONES static void sl_gnsums(const float *restrict dy, const float *restrict x, long n, double mean,
                                double *a, double *b) {
	double sa[SL_LANES] = {0}, sb[SL_LANES] = {0};
	long i = 0;
	for (; i + SL_LANES <= n; i += SL_LANES)
		for (int l = 0; l < SL_LANES; l++) {
			double d = dy[i + l];
			sa[l] += d;
			sb[l] += d * ((double)x[i + l] - mean);
		}
	for (; i < n; i++) {
		double d = dy[i];
		sa[0] += d;
		sb[0] += d * ((double)x[i] - mean);
	}
	*a = sl_combine(sa);
	*b = sl_combine(sb);
}

// y = a·x + b
SL_CLONES static void sl_affine(float *restrict y, const float *restrict x, float a, float b, long n) {
	for (long i = 0; i < n; i++) y[i] = x[i] * a + b;
}

// dx = A·dy + B·x + C
SL_CLONES static void sl_axpbyc(float *restrict dx, const float *restrict dy, const float *restrict x, float A,
                                float B, float C, long n) {
	for (long i = 0; i < n; i++) dx[i] = A * dy[i] + B * x[i] + C;
}

// Softmax of each row of the n×n matrix p (in place), exponentials by sl_exp, row sums
// in double.
SL_CLONES static void sl_softmax_rows(float *restrict p, long n) {
	for (long i = 0; i < n; i++) {
		float *r = p + i * n;
		float m = r[0];
		for (long j = 1; j < n; j++) m = r[j] > m ? r[j] : m;
		for (long j = 0; j < n; j++) {
			float a = r[j] - m;
			a = a < -87.3f ? -87.3f : a;
			r[j] = sl_exp(a);
		}
		float inv = (float)(1.0 / sl_sum(r, n));
		for (long j = 0; j < n; j++) r[j] *= inv;
	}
}

// expand_rows: the x-expanded image of the K row products (expandRows in conv.go):
// xe[c][kx][r][ox] = x[c][r-p][ox+kx-p], zero outside the image. The loops are kept as
// loops (no memcpy/memset calls, which cost more than the copy for rows of 8 to 64 floats).
SL_CLONES __attribute__((optimize("no-tree-loop-distribute-patterns"))) static void
sl_expand_rows(float *restrict xe, const float *restrict x, long cin, long h, long w, long k, long p, long wo) {
	long hp = h + 2 * p, plane = hp * wo;
	for (long c = 0; c < cin; c++) {
		const float *xc = x + c * h * w;
		for (long kx = 0; kx < k; kx++) {
			float *pl = xe + (c * k + kx) * plane;
			long lo = p - kx > 0 ? p - kx : 0;
			long hi = w + p - kx < wo ? w + p - kx : wo;
			if (hi < lo) hi = lo;
			for (long r = 0; r < hp; r++) {
				float *row = pl + r * wo;
				long iy = r - p;
				if (iy < 0 || iy >= h) {
					for (long i = 0; i < wo; i++) row[i] = 0;
					continue;
				}
				const float *src = xc + iy * w + kx - p;
				for (long i = 0; i < lo; i++) row[i] = 0;
				for (long i = lo; i < hi; i++) row[i] = src[i];
				for (long i = hi; i < wo; i++) row[i] = 0;
			}
		}
	}
}

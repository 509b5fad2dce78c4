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

// col2im: adds the [cin·k·k, ho·wo] patch matrix col into the image dx [cin, h, w]
// (stride 1, zero padding p), as col2im in conv.go.
SL_CLONES static void sl_col2im(float *restrict dx, const float *restrict col, long cin, long h, long w,
                                long k, long p, long ho, long wo) {
	long n = ho * wo;
	for (long c = 0; c < cin; c++) {
		float *dc = dx + c * h * w;
		for (long ky = 0; ky < k; ky++) {
			for (long kx = 0; kx < k; kx++) {
				const float *row = col + ((c * k + ky) * k + kx) * n;
				long lo = p - kx > 0 ? p - kx : 0;
				long hi = w + p - kx < wo ? w + p - kx : wo;
				if (lo >= hi) continue;
				for (long oy = 0; oy < ho; oy++) {
					long iy = oy + ky - p;
					if (iy < 0 || iy >= h) continue;
					float *d = dc + iy * w + lo + kx - p;
					const float *r = row + oy * wo + lo;
					for (long i = 0; i < hi - lo; i++) d[i] += r[i];
				}
			}
		}
	}
}

// Sums of x and x² in double (GroupNorm statistics).
SL_CLONES static void sl_stats(const float *restrict x, long n, double *sum, double *sum2) {
	double s = 0, s2 = 0;
	for (long i = 0; i < n; i++) {
		double f = x[i];
		s += f;
		s2 += f * f;
	}
	*sum = s;
	*sum2 = s2;
}

// Σ dy and Σ dy·(x − mean) in double (GroupNorm backward).
SL_CLONES static void sl_gnsums(const float *restrict dy, const float *restrict x, long n, double mean,
                                double *a, double *b) {
	double sa = 0, sb = 0;
	for (long i = 0; i < n; i++) {
		double d = dy[i];
		sa += d;
		sb += d * ((double)x[i] - mean);
	}
	*a = sa;
	*b = sb;
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
		double s = 0;
		for (long j = 0; j < n; j++) {
			float a = r[j] - m;
			a = a < -87.3f ? -87.3f : a;
			float e = sl_exp(a);
			r[j] = e;
			s += e;
		}
		float inv = (float)(1.0 / s);
		for (long j = 0; j < n; j++) r[j] *= inv;
	}
}

// im2col: writes the [cin·k·k, ho·wo] patch matrix of the image x [cin, h, w] (stride 1,
// zero padding p), as im2col in conv.go.
SL_CLONES static void sl_im2col(float *restrict col, const float *restrict x, long cin, long h, long w,
                                long k, long p, long ho, long wo) {
	long n = ho * wo;
	for (long c = 0; c < cin; c++) {
		const float *xc = x + c * h * w;
		for (long ky = 0; ky < k; ky++) {
			for (long kx = 0; kx < k; kx++) {
				float *row = col + ((c * k + ky) * k + kx) * n;
				long lo = p - kx > 0 ? p - kx : 0;
				long hi = w + p - kx < wo ? w + p - kx : wo;
				if (lo > wo) lo = wo;
				if (hi < lo) hi = lo;
				for (long oy = 0; oy < ho; oy++) {
					long iy = oy + ky - p;
					float *r = row + oy * wo;
					if (iy < 0 || iy >= h) {
						for (long i = 0; i < wo; i++) r[i] = 0;
						continue;
					}
					for (long i = 0; i < lo; i++) r[i] = 0;
					const float *s = xc + iy * w + kx - p;
					for (long i = lo; i < hi; i++) r[i] = s[i];
					for (long i = hi; i < wo; i++) r[i] = 0;
				}
			}
		}
	}
}

// Issue 17 probe (session 17), not part of the engine: a Q4_0 row times int8 activations with AVX-512 VNNI (vpdpbusd),
// to measure what a native kernel called through FFM would give against the Vector API kernel. See README.md here.
#include <immintrin.h>
#include <stdint.h>
#include <string.h>
static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }
/* rows of Q4_0 (18-byte blocks: fp16 d, 16 bytes of nibbles) times int8 activations (scale dx per 32, xs8 = 8*sum per 32) */
void q40_rows(const uint8_t *w, long rowBytes, int rows, int cols, const int8_t *xq, const float *dx, const int *xs8, float *out) {
  int nb = cols / 32;
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  for (int r = 0; r < rows; r++) {
    const uint8_t *row = w + (long) r * rowBytes;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    float corr = 0;
    for (int b = 0; b < nb; b += 2) {
      const uint8_t *blk = row + b * 18;
      __m128i q = _mm_loadu_si128((const __m128i *) (blk + 2));
      __m256i qq = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), m4);
      __m256i xv = _mm256_loadu_si256((const __m256i *) (xq + b * 32));
      __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), qq, xv);
      float sc = h2f(*(const uint16_t *) blk) * dx[b];
      acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(sc), acc0);
      corr += sc * xs8[b];
      const uint8_t *blk1 = blk + 18;
      __m128i q1 = _mm_loadu_si128((const __m128i *) (blk1 + 2));
      __m256i qq1 = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q1, 4), q1), m4);
      __m256i xv1 = _mm256_loadu_si256((const __m256i *) (xq + b * 32 + 32));
      __m256i s1 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), qq1, xv1);
      float sc1 = h2f(*(const uint16_t *) blk1) * dx[b + 1];
      acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s1), _mm256_set1_ps(sc1), acc1);
      corr += sc1 * xs8[b + 1];
    }
    __m256 a = _mm256_add_ps(acc0, acc1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    h = _mm_hadd_ps(h, h); h = _mm_hadd_ps(h, h);
    out[r] = _mm_cvtss_f32(h) - corr;
  }
}

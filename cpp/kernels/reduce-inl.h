// Reductions for gradient norms and L-BFGS's dot products. Included per target: each is one
// loop of plain C++ whose 16 independent accumulators the compiler vectorizes with the target's
// instructions (float -> double conversion, multiply, add, integer maximum), so it runs at
// memory speed while keeping double precision and a fixed order: lane k takes the elements
// i = k (mod 16) and the lanes are combined pairwise in a fixed order, so every target (and the
// scalar build) returns the same bits.
#include <cmath>
#include <cstdint>
#include <cstring>

namespace fastoptim {
namespace FO_TARGET {

constexpr int kReduceLanes = 16;

// The lanes' accumulators combined pairwise, in a fixed order.
template <class T, class Combine>
inline T fold_lanes(T (&acc)[kReduceLanes], Combine combine) {
  for (int w = kReduceLanes / 2; w > 0; w /= 2)
    for (int k = 0; k < w; ++k) acc[k] = combine(acc[k], acc[k + w]);
  return acc[0];
}

// combine() over i of f(i), lane k taking i = k (mod kReduceLanes), starting from T{}.
template <class T, class F, class Combine>
inline T lane_reduce(int64_t n, F f, Combine combine) {
  T acc[kReduceLanes] = {};
  int64_t i = 0;
  for (; i + kReduceLanes <= n; i += kReduceLanes)
    for (int k = 0; k < kReduceLanes; ++k) acc[k] = combine(acc[k], f(i + k));
  for (; i < n; ++i) acc[0] = combine(acc[0], f(i));
  return fold_lanes(acc, combine);
}

template <class F>
inline double lane_sum(int64_t n, F f) {
  return lane_reduce<double>(n, f, [](double a, double b) { return a + b; });
}

// Sum of x[i]^2 in double.
inline double sum_squares(const float* x, int64_t n) {
  return lane_sum(n, [x](int64_t i) { return static_cast<double>(x[i]) * x[i]; });
}

// Sum of |x[i]| in double.
inline double sum_abs(const float* x, int64_t n) {
  return lane_sum(n, [x](int64_t i) { return static_cast<double>(std::fabs(x[i])); });
}

// |x[i]|^e for an integer e >= 1, by binary exponentiation over a block of elements at a time:
// each pass over the block multiplies by the base where e's bit is set, then squares the base,
// so every pass is the same for all elements and vectorizes, which pow per element does not.
// Each multiplication rounds in double, so the power is within a few ulps of pow's. Sums in
// lane_sum's order, so every target returns the same bits.
constexpr int kPowBlock = 256;  // a multiple of kReduceLanes
inline double sum_int_pow(const float* x, int64_t n, uint32_t e) {
  double acc[kReduceLanes] = {};
  double base[kPowBlock], r[kPowBlock];
  for (int64_t start = 0; start < n; start += kPowBlock) {
    const int m = static_cast<int>(n - start < kPowBlock ? n - start : kPowBlock);
    for (int j = 0; j < m; ++j) {
      base[j] = std::fabs(double{x[start + j]});
      r[j] = 1.0;
    }
    for (uint32_t bits = e;; ) {
      if (bits & 1u)
        for (int j = 0; j < m; ++j) r[j] *= base[j];
      bits >>= 1;
      if (!bits) break;
      for (int j = 0; j < m; ++j) base[j] *= base[j];
    }
    int j = 0;
    for (; j + kReduceLanes <= m; j += kReduceLanes)
      for (int k = 0; k < kReduceLanes; ++k) acc[k] += r[j + k];
    for (; j < m; ++j) acc[0] += r[j];  // the last block's tail only
  }
  return fold_lanes(acc, [](double a, double b) { return a + b; });
}

// Sum of |x[i]|^p in double: powers by multiplication for integer p up to 64, else pow per
// element (no target vectorizes it).
inline double sum_pow(const float* x, int64_t n, double p) {
  if (p >= 1.0 && p <= 64.0 && p == std::floor(p))
    return sum_int_pow(x, n, static_cast<uint32_t>(p));
  return lane_sum(n, [x, p](int64_t i) { return std::pow(std::fabs(double{x[i]}), p); });
}

// Sum of x[i] * y[i] in double.
inline double dot(const float* x, const float* y, int64_t n) {
  return lane_sum(n, [x, y](int64_t i) { return static_cast<double>(x[i]) * y[i]; });
}

// Largest |x[i]|, NaN if any x[i] is NaN. With the sign bit cleared, a float's bits read as an
// unsigned integer grow with its magnitude, and NaNs lie above infinity: an integer maximum,
// which every target vectorizes, is exact and lets a NaN win.
inline double max_abs(const float* x, int64_t n) {
  const uint32_t m = lane_reduce<uint32_t>(
      n,
      [x](int64_t i) {
        uint32_t u;
        std::memcpy(&u, x + i, sizeof u);
        return u & 0x7fffffffu;
      },
      [](uint32_t a, uint32_t b) { return a > b ? a : b; });
  float f;
  std::memcpy(&f, &m, sizeof f);
  return f;
}

}  // namespace FO_TARGET
}  // namespace fastoptim

// Reductions for gradient norms. Included per target: the loop is plain C++ whose 16
// independent double accumulators the compiler vectorizes with the target's instructions
// (float -> double conversion and multiply-add), so it runs at memory speed while keeping
// double precision and a fixed summation order.
#include <cstdint>

namespace fastoptim {
namespace FO_TARGET {

// Sum of x[i]^2 in double. Lane k of the accumulators sums the elements i = k (mod 16).
inline double sum_squares(const float* x, int64_t n) {
  constexpr int kLanes = 16;
  double acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int k = 0; k < kLanes; ++k) acc[k] += static_cast<double>(x[i + k]) * x[i + k];
  for (; i < n; ++i) acc[0] += static_cast<double>(x[i]) * x[i];
  for (int w = kLanes / 2; w > 0; w /= 2)  // pairwise, in a fixed order
    for (int k = 0; k < w; ++k) acc[k] += acc[k + w];
  return acc[0];
}

}  // namespace FO_TARGET
}  // namespace fastoptim

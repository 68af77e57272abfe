#include "vector_ops.h"

#include <vector>

#include "parallel.h"

namespace fastoptim {
namespace {

constexpr int64_t kBlock = 4096;  // elements per partial sum

double block_dot(const float* x, const float* y, int64_t n) {
  // Four independent accumulators in a fixed pattern: fast and reproducible.
  double acc[4] = {0.0, 0.0, 0.0, 0.0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int k = 0; k < 4; ++k) acc[k] += static_cast<double>(x[i + k]) * y[i + k];
  for (; i < n; ++i) acc[0] += static_cast<double>(x[i]) * y[i];
  return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

}  // namespace

double dot(const float* x, const float* y, int64_t n) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> partial(static_cast<size_t>(blocks), 0.0);
  // Blocks are the unit of work, so every partial sum is the same whatever the threads.
  parallel_ranges(blocks * kAlign, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin / kAlign; b < end / kAlign; ++b) {
      const int64_t lo = b * kBlock, hi = lo + kBlock < n ? lo + kBlock : n;
      partial[static_cast<size_t>(b)] = block_dot(x + lo, y + lo, hi - lo);
    }
  }, kBlock / kAlign);
  double sum = 0.0;
  for (double p : partial) sum += p;
  return sum;
}

void axpy(double alpha, const float* x, float* y, int64_t n) {
  const float a = static_cast<float>(alpha);
  parallel_ranges(n, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) y[i] += a * x[i];
  });
}

}  // namespace fastoptim

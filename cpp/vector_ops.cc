#include "vector_ops.h"

#include <cmath>
#include <limits>

#include "dispatch.h"
#include "parallel.h"

namespace fastoptim {
namespace {

constexpr int64_t kBlock = 4096;  // elements per partial result
constexpr int kAcc = 8;           // independent accumulators: vectorizable, fixed order

// Applies block_fn to every kBlock-sized block of every run (in parallel), then combines the
// per-block results in block order with `combine`, so no result depends on the thread count.
template <class BlockFn, class Combine>
double reduce_blocks(const std::vector<Run>& runs, double init, BlockFn block_fn,
                     Combine combine) {
  std::vector<Run> blocks;
  for (const Run& r : runs)
    for (int64_t off = 0; off < r.second; off += kBlock)
      blocks.emplace_back(r.first + off, std::min(kBlock, r.second - off));
  std::vector<double> partial(blocks.size(), init);
  const int64_t count = static_cast<int64_t>(blocks.size());
  parallel_ranges(count * kAlign, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin / kAlign; b < end / kAlign; ++b)
      partial[b] = block_fn(blocks[b].first, blocks[b].second);
  }, kBlock / kAlign);
  double acc = init;
  for (double p : partial) acc = combine(acc, p);
  return acc;
}

// Sum of f(x[i]) in double with kAcc interleaved accumulators.
template <class F>
double block_sum(const float* x, int64_t n, F f) {
  double acc[kAcc] = {};
  int64_t i = 0;
  for (; i + kAcc <= n; i += kAcc)
    for (int k = 0; k < kAcc; ++k) acc[k] += f(static_cast<double>(x[i + k]), i + k);
  for (; i < n; ++i) acc[0] += f(static_cast<double>(x[i]), i);
  double s = 0.0;
  for (double a : acc) s += a;
  return s;
}

double add(double a, double b) { return a + b; }

}  // namespace

double dot(const float* x, const float* y, int64_t n) {
  return reduce_blocks({{x, n}}, 0.0, [x, y](const float* b, int64_t m) {
    const float* yb = y + (b - x);
    return block_sum(b, m, [yb](double v, int64_t i) { return v * yb[i]; });
  }, add);
}

double norm(const std::vector<Run>& runs, double p) {
  if (std::isinf(p)) {
    // Largest magnitude; NaN wins so that a NaN gradient is never hidden by clipping.
    auto nan_max = [](double a, double b) { return (a != a || a > b) ? a : b; };
    return reduce_blocks(runs, 0.0, [nan_max](const float* x, int64_t n) {
      double m = 0.0;
      for (int64_t i = 0; i < n; ++i) m = nan_max(std::fabs(static_cast<double>(x[i])), m);
      return m;
    }, nan_max);
  }
  if (p == 2.0) {  // the hot case (max_grad_norm): the target's vectorized kernel
    const auto sum_squares = active_kernels().sum_squares;
    return std::sqrt(reduce_blocks(runs, 0.0, sum_squares, add));
  }
  if (p == 1.0) {
    return reduce_blocks(runs, 0.0, [](const float* x, int64_t n) {
      return block_sum(x, n, [](double v, int64_t) { return std::fabs(v); });
    }, add);
  }
  const double s = reduce_blocks(runs, 0.0, [p](const float* x, int64_t n) {
    return block_sum(x, n, [p](double v, int64_t) { return std::pow(std::fabs(v), p); });
  }, add);
  return std::pow(s, 1.0 / p);
}

void axpy(double alpha, const float* x, float* y, int64_t n) {
  const float a = static_cast<float>(alpha);
  parallel_ranges(n, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) y[i] += a * x[i];
  });
}

void scale(float* x, int64_t n, double factor) {
  const float f = static_cast<float>(factor);
  parallel_ranges(n, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) x[i] *= f;
  });
}

}  // namespace fastoptim

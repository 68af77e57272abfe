#include "vector_ops.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "parallel.h"

namespace fastoptim {
namespace {

constexpr int64_t kBlock = 4096;  // elements per partial result

// Applies block_fn to every kBlock-sized block of every run, in parallel, and returns the
// results in block order; run_of[b] (if given) receives the run index of block b. Blocks, not
// threads, are the unit of work, so no result depends on the thread count. Blocks of 16-bit
// runs are widened to float32 first (exactly). `weight`: the cost of one element relative to
// an element-wise update (see parallel_ranges).
template <class BlockFn>
std::vector<double> map_blocks(const std::vector<Run>& runs, BlockFn block_fn, int64_t weight,
                               std::vector<size_t>* run_of = nullptr) {
  std::vector<Run> blocks;
  for (size_t r = 0; r < runs.size(); ++r) {
    const int64_t bytes = runs[r].format == GradFormat::kFloat32 ? 4 : 2;
    for (int64_t off = 0; off < runs[r].n; off += kBlock) {
      blocks.push_back(Run{static_cast<const char*>(runs[r].x) + off * bytes,
                           std::min(kBlock, runs[r].n - off), runs[r].format});
      if (run_of) run_of->push_back(r);
    }
  }
  std::vector<double> results(blocks.size());
  const int64_t count = static_cast<int64_t>(blocks.size());
  const auto widen = active_kernels().widen;
  parallel_ranges(count * kAlign, [&](int64_t begin, int64_t end) {
    std::vector<float> wide;
    for (int64_t b = begin / kAlign; b < end / kAlign; ++b) {
      const Run& bl = blocks[b];
      const float* x = static_cast<const float*>(bl.x);
      if (bl.format != GradFormat::kFloat32) {
        wide.resize(kBlock);
        widen(static_cast<const uint16_t*>(bl.x), wide.data(), bl.n, bl.format);
        x = wide.data();
      }
      results[b] = block_fn(x, bl.n);
    }
  }, kBlock / kAlign * weight);
  return results;
}

// map_blocks, then the per-block results combined in block order.
template <class BlockFn, class Combine>
double reduce_blocks(const std::vector<Run>& runs, double init, BlockFn block_fn,
                     Combine combine) {
  double acc = init;
  for (double p : map_blocks(runs, block_fn, 1)) acc = combine(acc, p);
  return acc;
}

double add(double a, double b) { return a + b; }

}  // namespace

double dot(const float* x, const float* y, int64_t n) {
  const auto kernel = active_kernels().dot;
  return reduce_blocks({{x, n}}, 0.0, [x, y, kernel](const float* b, int64_t m) {
    return kernel(b, y + (b - x), m);
  }, add);
}

double norm(const std::vector<Run>& runs, double p) {
  const Kernels& k = active_kernels();
  if (std::isinf(p)) {
    // Largest magnitude; NaN wins so that a NaN gradient is never hidden by clipping.
    auto nan_max = [](double a, double b) { return (a != a || a > b) ? a : b; };
    return reduce_blocks(runs, 0.0, k.max_abs, nan_max);
  }
  if (p == 2.0) return std::sqrt(reduce_blocks(runs, 0.0, k.sum_squares, add));  // max_grad_norm
  if (p == 1.0) return reduce_blocks(runs, 0.0, k.sum_abs, add);
  const auto sum_pow = k.sum_pow;
  return std::pow(reduce_blocks(runs, 0.0, [sum_pow, p](const float* x, int64_t n) {
    return sum_pow(x, n, p);
  }, add), 1.0 / p);
}

int64_t first_nonfinite(const std::vector<Run>& runs) {
  const auto scan = active_kernels().any_nonfinite;
  std::vector<size_t> run_of;
  // A read-only scan costs about a quarter of an update per element; weight 1 is the floor.
  const std::vector<double> bad = map_blocks(
      runs, [scan](const float* x, int64_t n) { return scan(x, n) ? 1.0 : 0.0; }, 1, &run_of);
  for (size_t b = 0; b < bad.size(); ++b)
    if (bad[b] != 0.0) return static_cast<int64_t>(run_of[b]);
  return -1;
}

void pairwise(PairFn fn, double s, const std::vector<Pair>& pairs) {
  const float f = static_cast<float>(s);
  std::vector<int64_t> ends;  // each pair's end in the concatenated range
  int64_t total = 0;
  for (const Pair& p : pairs) ends.push_back(total += p.n);
  parallel_ranges(total, [&](int64_t begin, int64_t end) {
    // From the first pair that ends after `begin`.
    for (size_t k = std::upper_bound(ends.begin(), ends.end(), begin) - ends.begin();
         k < pairs.size() && ends[k] - pairs[k].n < end; ++k) {
      const int64_t start = ends[k] - pairs[k].n;
      const int64_t lo = std::max(begin, start) - start, hi = std::min(end, ends[k]) - start;
      fn(f, pairs[k].a + lo, pairs[k].b + lo, hi - lo);
    }
  });
}

void scale(float* x, int64_t n, double factor) {
  const float f = static_cast<float>(factor);
  const auto kernel = active_kernels().scale;
  parallel_ranges(n, [&](int64_t begin, int64_t end) { kernel(f, x + begin, end - begin); });
}

void two_loop(float* q, int64_t n, const std::vector<const float*>& dirs,
              const std::vector<const float*>& stps, const std::vector<double>& ro,
              double h_diag) {
  const PairFn axpy = active_kernels().axpy;
  // q += a * x
  auto add = [&](float a, const float* x) { pairwise(axpy, a, {{q, const_cast<float*>(x), n}}); };
  const size_t m = ro.size();
  std::vector<float> al(m);
  for (size_t k = m; k-- > 0;) {
    al[k] = static_cast<float>(dot(stps[k], q, n)) * static_cast<float>(ro[k]);
    add(-al[k], dirs[k]);
  }
  scale(q, n, h_diag);
  for (size_t k = 0; k < m; ++k) {
    const float be = static_cast<float>(dot(dirs[k], q, n)) * static_cast<float>(ro[k]);
    add(al[k] - be, stps[k]);
  }
}

}  // namespace fastoptim

// Vector operations on float32 arrays that are not update rules, split across threads: the
// reductions behind gradient clipping, the non-finite check and L-BFGS (identical for any thread
// count), L-BFGS's two-loop recursion, and element-wise operations on pairs of arrays (EMA,
// Lookahead). Each runs the active target's kernels (kernels/reduce-inl.h, vector-inl.h).
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "dispatch.h"

namespace fastoptim {

// A read-only run of n elements: float32, or float16 or bfloat16 (gradients).
struct Run {
  const void* x;
  int64_t n;
  GradFormat format = GradFormat::kFloat32;
};

// Sum over i of x[i] * y[i], accumulated in double in fixed-size blocks whose partial sums are
// added in block order: the result does not depend on the number of threads.
double dot(const float* x, const float* y, int64_t n);

// The p-norm of all elements of all runs together, reduced like dot(): p = 2 and 1 have fast
// paths, p = +inf is the largest magnitude (NaN if any element is NaN), integer p up to 64 is
// taken by multiplication, other p > 0 use pow.
double norm(const std::vector<Run>& runs, double p);

// Index of the first run holding a NaN or Inf, or -1; blocks are scanned in parallel.
int64_t first_nonfinite(const std::vector<Run>& runs);

// n elements of two arrays, a and b, that a PairFn works on together.
struct Pair {
  float* a;
  float* b;
  int64_t n;
};

// fn(s, a, b, n) over every pair, as one range of elements split across threads.
void pairwise(PairFn fn, double s, const std::vector<Pair>& pairs);

// x[i] *= factor (rounded to float32).
void scale(float* x, int64_t n, double factor);

// L-BFGS two-loop recursion, in place on q (-gradient on entry, the direction on return), with
// history y_i = dirs[i], s_i = stps[i], ro_i = 1 / (y_i . s_i):
//   for i = m-1..0: al[i] = (s_i . q) ro_i;  q -= al[i] y_i
//   q *= h_diag
//   for i = 0..m-1: be = (y_i . q) ro_i;  q += (al[i] - be) s_i
// Scalars are rounded to float32 where torch keeps them as float32 tensors.
void two_loop(float* q, int64_t n, const std::vector<const float*>& dirs,
              const std::vector<const float*>& stps, const std::vector<double>& ro,
              double h_diag);

}  // namespace fastoptim

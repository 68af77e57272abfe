// Vector operations on flat float32 arrays for what is not an element-wise update rule: the
// reductions behind L-BFGS and gradient clipping, identical for any thread count, and axpy.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

namespace fastoptim {

// A read-only run of float32 elements.
using Run = std::pair<const float*, int64_t>;

// Sum over i of x[i] * y[i], accumulated in double in fixed-size blocks whose partial sums are
// added in block order: the result does not depend on the number of threads.
double dot(const float* x, const float* y, int64_t n);

// The p-norm of all elements of all runs together, reduced like dot(): p = 2 and 1 have fast
// paths, p = +inf is the largest magnitude (NaN if any element is NaN), other p > 0 use pow.
double norm(const std::vector<Run>& runs, double p);

// Index of the first run holding a NaN or Inf, or -1; blocks are scanned in parallel with the
// active target's kernel.
int64_t first_nonfinite(const std::vector<Run>& runs);

// y[i] += alpha * x[i] (alpha rounded to float32, as a float32 tensor op would).
void axpy(double alpha, const float* x, float* y, int64_t n);

// x[i] *= factor (rounded to float32).
void scale(float* x, int64_t n, double factor);

}  // namespace fastoptim

// Vector operations on flat float32 arrays for the methods that are not element-wise update
// rules (L-BFGS): a dot product that is identical for any thread count, and axpy.
#pragma once
#include <cstdint>

namespace fastoptim {

// Sum over i of x[i] * y[i], accumulated in double in fixed-size blocks whose partial sums are
// added in block order: the result does not depend on the number of threads.
double dot(const float* x, const float* y, int64_t n);

// y[i] += alpha * x[i] (alpha rounded to float32, as a float32 tensor op would).
void axpy(double alpha, const float* x, float* y, int64_t n);

}  // namespace fastoptim

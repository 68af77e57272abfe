// Tags that tell a vector load/store whether all lanes are valid (Full) or only the first
// `count` (Tail). Kernels are written once as a generic lambda over the tag, so the tail of an
// array runs through exactly the same arithmetic as its body.
#pragma once
#include <cstdint>

namespace fastoptim {

struct Full {};
struct Tail {
  int count;
};

// Calls f(i, Full{}) for every whole vector of N lanes in [0, n), then f(i, Tail{r}) once for
// the r < N remaining elements, if any.
// Always inlined, so that the loop sees what its caller knows (kernels/common-inl.h,
// specialize()).
template <int N, class F>
__attribute__((always_inline)) inline void for_each_vector(int64_t n, F&& f) {
  int64_t i = 0;
  for (; i + N <= n; i += N) f(i, Full{});
  if (i < n) f(i, Tail{static_cast<int>(n - i)});
}

}  // namespace fastoptim

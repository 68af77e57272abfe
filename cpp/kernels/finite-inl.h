// Finiteness scan of a gradient (for nonfinite="skip"/"raise"). Included per target.
#include "kernels/rule.h"

namespace fastoptim {
namespace FO_TARGET {

// Returns whether any of x[0..n) is NaN or infinite. x - x is +0 for every finite x and NaN
// otherwise, and NaN sticks in a sum: one subtract and one add per vector, no branches.
template <class V>
bool any_nonfinite(const float* x, int64_t n) {
  V acc = V::set1(0.0f);
  for_each_vector<V::N>(n, [&](int64_t i, auto lanes) {
    const V v = V::load(x + i, lanes);
    acc = acc + (v - v);
  });
  float lanes[V::N];
  acc.store(lanes, Full{});
  bool bad = false;
  for (float f : lanes) bad = bad || f != f;
  return bad;
}

}  // namespace FO_TARGET
}  // namespace fastoptim

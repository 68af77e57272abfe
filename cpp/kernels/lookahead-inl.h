// Lookahead synchronisation kernel (see lookahead.h). Included per target. Reads no gradient.
#include "kernels/lookahead.h"

namespace fastoptim {
namespace FO_TARGET {

// Computes slow <- slow + alpha * (p - slow), p <- slow, in place on q.p and q.s[0].
template <class V>
void lookahead_sync(const LookaheadSync::Args& a, Ptrs q, int64_t n) {
  const V alpha = V::set1(a.alpha);
  for_each_vector<V::N>(n, [&](int64_t i, auto lanes) {
    V slow = V::load(q.s[0] + i, lanes);
    slow = mul_add(alpha, V::load(q.p + i, lanes) - slow, slow);
    slow.store(q.s[0] + i, lanes);
    slow.store(q.p + i, lanes);
  });
}

}  // namespace FO_TARGET
}  // namespace fastoptim

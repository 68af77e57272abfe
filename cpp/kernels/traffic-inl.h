// Bandwidth-ceiling kernel (see traffic.h). Included per target.
#include "kernels/common-inl.h"
#include "kernels/traffic.h"

namespace fastoptim {
namespace FO_TARGET {

// Writes every array back unchanged (x + 0 * g; bfloat16 state goes through its rounding).
template <class V, class F>
void step(const Traffic::Args& a, Ptrs q, int64_t n) {
  const StateIo<V, F::kState> st(q);
  const V zero = V::set1(a.zero);
  for_each_vector<V::N>(n, [&](int64_t i, auto lanes) {
    const V g = load_grad<V, F::kGrad>(q, i, lanes) * zero;
    for (int k = 0; k < kMaxSlots; ++k)
      if (q.s[k]) st.store(k, i, lanes, st.load(k, i, lanes) + g);
    (V::load(q.p + i, lanes) + g).store(q.p + i, lanes);
  });
}

}  // namespace FO_TARGET
}  // namespace fastoptim

// Bandwidth-ceiling kernel (see traffic.h). Included per target.
#include "kernels/common-inl.h"
#include "kernels/traffic.h"

namespace fastoptim {
namespace FO_TARGET {

// Writes every array back unchanged (x + 0 * g), each through its format's reading and writing
// (bfloat16 through its rounding, int8 through its blocks, 16-bit parameters with their master).
template <class V, class F>
void step(const Traffic::Args& a, Ptrs q, int64_t n) {
  const ParamIo<V, F> param(q);
  StateIo<V, F> st(q);
  const V zero = V::set1(a.zero);
  st.for_each(n, [&](int64_t i, auto lanes) {
    const V g = load_grad<V, F>(q, i, lanes) * zero;
    for (int k = 0; k < kMaxSlots; ++k)
      if (q.s[k]) st.store(k, i, lanes, st.load(k, i, lanes) + g);
    param.store(i, lanes, param.load(i, lanes) + g);
  });
}

}  // namespace FO_TARGET
}  // namespace fastoptim

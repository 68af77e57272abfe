// Adamax kernel (see adamax.h for the math). Included per target.
#include "kernels/adamax.h"
#include "kernels/common-inl.h"

namespace fastoptim {
namespace FO_TARGET {

// One Adamax step over n elements: q.p and state q.s = {exp_avg, exp_inf}.
template <class V, class F>
void step(const Adamax::Args& a, Ptrs q, int64_t n) {
  const PreparedGrad<V, F> prep(a.prep, q);
  StateIo<V, F> st(q);
  const MomentsV<V> moments(a.moments);
  const V b2 = V::set1(a.beta2), eps = V::set1(a.eps), neg_clr = V::set1(a.neg_clr);
  st.for_each(n, [&](int64_t i, auto lanes) {
    V p, g;
    prep.load(i, lanes, p, g);
    const V m = moments.first(st.load(0, i, lanes), g);
    const V u = max(b2 * st.load(1, i, lanes), abs(g) + eps);
    st.store(0, i, lanes, m);
    st.store(1, i, lanes, u);
    prep.store(i, lanes, mul_add(neg_clr, m / u, p));
  });
}

}  // namespace FO_TARGET
}  // namespace fastoptim

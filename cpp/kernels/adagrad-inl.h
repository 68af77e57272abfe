// Adagrad kernel (see adagrad.h for the math). Included per target.
#include "kernels/adagrad.h"
#include "kernels/common-inl.h"

namespace fastoptim {
namespace FO_TARGET {

// One Adagrad step over n elements: q.p and q.s[0] (the accumulator, "sum").
template <class V, class F>
void step(const Adagrad::Args& a, Ptrs q, int64_t n) {
  const PreparedGrad<V, F> prep(a.prep, q);
  StateIo<V, F> st(q);
  const V init = V::set1(a.initial_sum), eps = V::set1(a.eps), neg_clr = V::set1(a.neg_clr);
  st.for_each(n, [&](int64_t i, auto lanes) {
    V p, g;
    prep.load(i, lanes, p, g);
    // The accumulator starts at initial_accumulator_value: on the first step it is not read.
    const V sum = mul_add(g, g, a.first ? init : st.load(0, i, lanes));
    st.store(0, i, lanes, sum);
    prep.store(i, lanes, mul_add(neg_clr, g / (sqrt(sum) + eps), p));
  });
}

}  // namespace FO_TARGET
}  // namespace fastoptim

// Proximal kernels (see proximal.h for the math). Included per target.
#include "kernels/common-inl.h"
#include "kernels/proximal.h"

namespace fastoptim {
namespace FO_TARGET {

// The gradient step with step size a, then the soft threshold (L1) and the shrink (L2).
template <class V>
V proximal_update(V p, V g, V a, V l1, V l2) {
  const V q = mul_add(-a, g, p);
  const V one = V::set1(1.0f), zero = V::set1(0.0f);
  return sign(q) * max(abs(q) - a * l1, zero) / mul_add(a, l2, one);
}

// One ProximalSGD step over n elements of q.p.
template <class V, class F>
void step(const ProximalSgd::Args& a, Ptrs q, int64_t n) {
  const PreparedGrad<V, F> prep(a.prep, q);
  StateIo<V, F> st(q);
  const V lr = V::set1(a.lr), l1 = V::set1(a.l1), l2 = V::set1(a.l2);
  st.for_each(n, [&](int64_t i, auto lanes) {
    V p, g;
    prep.load(i, lanes, p, g);
    prep.store(i, lanes, proximal_update(p, g, lr, l1, l2));
  });
}

// One ProximalAdagrad step over n elements: q.p and q.s[0] (the accumulator, "sum").
template <class V, class F>
void step(const ProximalAdagrad::Args& a, Ptrs q, int64_t n) {
  const PreparedGrad<V, F> prep(a.prep, q);
  StateIo<V, F> st(q);
  const V lr = V::set1(a.lr), init = V::set1(a.initial_sum), l1 = V::set1(a.l1),
          l2 = V::set1(a.l2);
  st.for_each(n, [&](int64_t i, auto lanes) {
    V p, g;
    prep.load(i, lanes, p, g);
    const V sum = mul_add(g, g, a.first ? init : st.load(0, i, lanes));
    st.store(0, i, lanes, sum);
    prep.store(i, lanes, proximal_update(p, g, lr / sqrt(sum), l1, l2));
  });
}

}  // namespace FO_TARGET
}  // namespace fastoptim

// Proximal kernels (see proximal.h for the math). Included per target.
#include "kernels/common-inl.h"
#include "kernels/proximal.h"

namespace fastoptim {
namespace FO_TARGET {

// The proximal step shared by both rules: soft-threshold q = p - a * g by a * l1, then shrink
// by 1 + a * l2. `a` is a vector so that ProximalAdagrad's per-element rate fits too.
template <class V>
V proximal_update(V p, V g, V a, V l1, V l2) {
  const V q = mul_add(-a, g, p);
  const V one = V::set1(1.0f), zero = V::set1(0.0f);
  return sign(q) * max(abs(q) - a * l1, zero) / mul_add(a, l2, one);
}

// Computes one ProximalSGD step in place on q.p.
template <class V>
void proximal_sgd(const ProximalSgd::Args& a, Ptrs q, int64_t n) {
  const PreparedGrad<V> prep(a.prep);
  const V lr = V::set1(a.lr), l1 = V::set1(a.l1), l2 = V::set1(a.l2);
  for_each_vector<V::N>(n, [&](int64_t i, auto lanes) {
    V p, g;
    prep.load(q, i, lanes, p, g);
    proximal_update(p, g, lr, l1, l2).store(q.p + i, lanes);
  });
}

// Computes one ProximalAdagrad step in place: q.p and q.s[0] (the accumulator, "sum").
template <class V>
void proximal_adagrad(const ProximalAdagrad::Args& a, Ptrs q, int64_t n) {
  const PreparedGrad<V> prep(a.prep);
  const V lr = V::set1(a.lr), init = V::set1(a.initial_sum);
  const V l1 = V::set1(a.l1), l2 = V::set1(a.l2);
  for_each_vector<V::N>(n, [&](int64_t i, auto lanes) {
    V p, g;
    prep.load(q, i, lanes, p, g);
    const V sum = mul_add(g, g, a.first ? init : V::load(q.s[0] + i, lanes));
    sum.store(q.s[0] + i, lanes);
    proximal_update(p, g, lr / sqrt(sum), l1, l2).store(q.p + i, lanes);
  });
}

}  // namespace FO_TARGET
}  // namespace fastoptim

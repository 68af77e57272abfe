// Proximal kernels (see proximal.h for the math). Included per target.
#include "kernels/common-inl.h"
#include "kernels/io-inl.h"
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

// The parameter before proximal_update from the one after it. Exact zeros (thresholded) have
// no inverse: their old values are logged (io-inl.h).
template <class V>
V proximal_guess(V p, V g, V a, V l1, V l2) {
  const V q = sign(p) * mul_add(abs(p), mul_add(a, l2, V::set1(1.0f)), a * l1);
  return mul_add(a, g, q);
}

template <class V>
struct ProximalSgdV {
  explicit ProximalSgdV(const ProximalSgd::Args& a)
      : prep(a.prep), lr(V::set1(a.lr)), l1(V::set1(a.l1)), l2(V::set1(a.l2)) {}
  V guess(V p, V g0, const V* /*old*/, const V* /*now*/) const {
    return proximal_guess(p, prep.grad(p, g0), lr, l1, l2);
  }
  const PreparedGrad<V> prep;
  const V lr, l1, l2;
};

// One ProximalSGD step over n elements of q.p.
template <class V, class Io>
void proximal_sgd(const ProximalSgd::Args a, Ptrs q, int64_t n, Io io) {
  const ProximalSgdV<V> c(a);
  for_each_vector<V::N>(n, [&](int64_t i, auto lanes) {
    V p0, g0, p, g;
    c.prep.load(q, i, lanes, p0, g0, p, g);
    const V p1 = proximal_update(p, g, c.lr, c.l1, c.l2);
    io.param(q, i, lanes, p0, g0, p1, [&] { return c.guess(p1, g0, nullptr, nullptr); });
  });
}

template <class V>
struct ProximalAdagradV {
  explicit ProximalAdagradV(const ProximalAdagrad::Args& a)
      : prep(a.prep), lr(V::set1(a.lr)), init(V::set1(a.initial_sum)), l1(V::set1(a.l1)),
        l2(V::set1(a.l2)) {}
  V step_size(V sum) const { return lr / sqrt(sum); }
  V guess(V p, V g0, const V* /*old*/, const V* now) const {
    return proximal_guess(p, prep.grad(p, g0), step_size(now[0]), l1, l2);
  }
  const PreparedGrad<V> prep;
  const V lr, init, l1, l2;
};

// One ProximalAdagrad step over n elements: q.p and q.s[0] (the accumulator, "sum").
template <class V, class Io>
void proximal_adagrad(const ProximalAdagrad::Args a, Ptrs q, int64_t n, Io io) {
  const ProximalAdagradV<V> c(a);
  for_each_vector<V::N>(n, [&](int64_t i, auto lanes) {
    V p0, g0, p, g, now[kMaxSlots] = {};
    c.prep.load(q, i, lanes, p0, g0, p, g);
    now[0] = mul_add(g, g, a.first ? c.init : V::load(q.s[0] + i, lanes));
    io.state(q, 0, i, lanes, now[0]);
    const V step = c.step_size(now[0]);
    const V p1 = proximal_update(p, g, step, c.l1, c.l2);
    io.param(q, i, lanes, p0, g0, p1, [&] { return proximal_guess(p1, g, step, c.l1, c.l2); });
  });
}

}  // namespace FO_TARGET
}  // namespace fastoptim

// Lion kernel (see lion.h for the math). Included per target.
#include "kernels/common-inl.h"
#include "kernels/io-inl.h"
#include "kernels/lion.h"

namespace fastoptim {
namespace FO_TARGET {

template <class V>
struct LionV {
  explicit LionV(const Lion::Args& a)
      : prep(a.prep), momentum(a.momentum), omb1(V::set1(a.one_minus_beta1)),
        neg_lr(V::set1(a.neg_lr)), lr(-neg_lr) {}

  // The update direction interpolates the old momentum and g with beta1...
  V direction(V g, V m) const { return sign(mul_add(omb1, g - m, m)); }
  V before(V p, V d) const { return prep.unscale(mul_add(lr, d, p)); }
  // Lion's weight decay is decoupled only: its gradient never reads p.
  V guess(V p, V g0, const V* old, const V* /*now*/) const {
    return before(p, direction(prep.grad(p, g0), old[0]));
  }

  const PreparedGrad<V> prep;
  const MomentsV<V> momentum;
  const V omb1, neg_lr, lr;
};

// One Lion step over n elements: q.p and q.s[0] (exp_avg).
template <class V, class Io>
void lion(const Lion::Args a, Ptrs q, int64_t n, Io io) {
  const LionV<V> c(a);
  for_each_vector<V::N>(n, [&](int64_t i, auto lanes) {
    V p0, g0, p, g, old[kMaxSlots] = {};
    c.prep.load(q, i, lanes, p0, g0, p, g);
    old[0] = V::load(q.s[0] + i, lanes);
    const V d = c.direction(g, old[0]);
    const V p1 = mul_add(c.neg_lr, d, p);
    io.state(q, 0, i, lanes, c.momentum.first(old[0], g));  // ...the stored one with beta2
    io.param(q, i, lanes, p0, g0, p1, [&] { return c.before(p1, d); });
  });
}

}  // namespace FO_TARGET
}  // namespace fastoptim

// RMSprop kernel (see rmsprop.h for the math). Included per target.
#include "kernels/common-inl.h"
#include "kernels/io-inl.h"
#include "kernels/rmsprop.h"

namespace fastoptim {
namespace FO_TARGET {

template <class V>
struct RmspropV {
  explicit RmspropV(const Rmsprop::Args& a)
      : a(a), prep(a.prep), averages(a.averages), eps(V::set1(a.eps)), mom(V::set1(a.momentum)),
        neg_lr(V::set1(a.neg_lr)), lr(-neg_lr) {}

  // g over the root of the (centered) mean square: the step without momentum.
  V scaled(V g, V square_avg, V grad_avg) const {
    const V var = a.centered ? square_avg - grad_avg * grad_avg : square_avg;
    return g / (sqrt(var) + eps);
  }
  V before(V p, V d) const { return prep.unscale(mul_add(lr, d, p)); }
  V guess(V p, V g0, const V* /*old*/, const V* now) const {
    if (a.use_momentum) return before(p, now[1]);
    return prep.solve(
        p, g0, [&](V x) { return before(p, scaled(prep.grad(x, g0), now[0], now[2])); },
        [&] { return std::array<V, 2>{scaled(neg_lr, now[0], now[2]), V::set1(0.0f)}; });
  }

  const Rmsprop::Args& a;
  const PreparedGrad<V> prep;
  const MomentsV<V> averages;
  const V eps, mom, neg_lr, lr;
};

// One RMSprop step over n elements: q.p and state q.s = {square_avg, momentum_buffer,
// grad_avg} (the last two only with momentum / centered).
template <class V, class Io>
void rmsprop(const Rmsprop::Args a, Ptrs q, int64_t n, Io io) {
  const RmspropV<V> c(a);
  for_each_vector<V::N>(n, [&](int64_t i, auto lanes) {
    V p0, g0, p, g, now[kMaxSlots] = {};
    c.prep.load(q, i, lanes, p0, g0, p, g);
    now[0] = c.averages.second(V::load(q.s[0] + i, lanes), g);
    io.state(q, 0, i, lanes, now[0]);
    if (a.centered) {
      now[2] = c.averages.first(V::load(q.s[2] + i, lanes), g);
      io.state(q, 2, i, lanes, now[2]);
    }
    V step = c.scaled(g, now[0], now[2]);
    if (a.use_momentum) {
      now[1] = step = mul_add(c.mom, V::load(q.s[1] + i, lanes), step);
      io.state(q, 1, i, lanes, now[1]);
    }
    const V p1 = mul_add(c.neg_lr, step, p);
    io.param(q, i, lanes, p0, g0, p1, [&] { return fast_guess(c, p1, step, g0, nullptr, now); });
  });
}

}  // namespace FO_TARGET
}  // namespace fastoptim

// Adadelta kernel (see adadelta.h for the math). Included per target.
#include "kernels/adadelta.h"
#include "kernels/common-inl.h"
#include "kernels/io-inl.h"

namespace fastoptim {
namespace FO_TARGET {

template <class V>
struct AdadeltaV {
  explicit AdadeltaV(const Adadelta::Args& a)
      : prep(a.prep), averages(a.averages), eps(V::set1(a.eps)), neg_lr(V::set1(a.neg_lr)),
        lr(-neg_lr) {}

  // The update from the old accumulated delta and the new square average.
  V delta(V g, V acc_delta, V square_avg) const {
    return sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g;
  }
  V before(V p, V d) const { return prep.unscale(mul_add(lr, d, p)); }
  V guess(V p, V g0, const V* old, const V* now) const {
    return prep.solve(
        p, g0, [&](V x) { return before(p, delta(prep.grad(x, g0), old[1], now[0])); },
        [&] { return std::array<V, 2>{delta(neg_lr, old[1], now[0]), V::set1(0.0f)}; });
  }

  const PreparedGrad<V> prep;
  const MomentsV<V> averages;
  const V eps, neg_lr, lr;
};

// One Adadelta step over n elements: q.p and state q.s = {square_avg, acc_delta}.
template <class V, class Io>
void adadelta(const Adadelta::Args a, Ptrs q, int64_t n, Io io) {
  const AdadeltaV<V> c(a);
  for_each_vector<V::N>(n, [&](int64_t i, auto lanes) {
    V p0, g0, p, g, old[kMaxSlots] = {}, now[kMaxSlots] = {};
    c.prep.load(q, i, lanes, p0, g0, p, g);
    now[0] = c.averages.second(V::load(q.s[0] + i, lanes), g);
    io.state(q, 0, i, lanes, now[0]);
    old[1] = V::load(q.s[1] + i, lanes);
    const V delta = c.delta(g, old[1], now[0]);
    now[1] = c.averages.second(old[1], delta);
    io.state(q, 1, i, lanes, now[1]);
    const V p1 = mul_add(c.neg_lr, delta, p);
    io.param(q, i, lanes, p0, g0, p1, [&] { return fast_guess(c, p1, delta, g0, old, now); });
  });
}

}  // namespace FO_TARGET
}  // namespace fastoptim

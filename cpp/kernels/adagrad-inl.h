// Adagrad kernel (see adagrad.h for the math). Included per target.
#include "kernels/adagrad.h"
#include "kernels/common-inl.h"
#include "kernels/io-inl.h"

namespace fastoptim {
namespace FO_TARGET {

template <class V>
struct AdagradV {
  explicit AdagradV(const Adagrad::Args& a)
      : prep(a.prep), init(V::set1(a.initial_sum)), eps(V::set1(a.eps)),
        neg_clr(V::set1(a.neg_clr)), clr(-neg_clr) {}

  V direction(V g, V sum) const { return g / (sqrt(sum) + eps); }
  V before(V p, V d) const { return mul_add(clr, d, p); }
  V guess(V p, V g0, const V* /*old*/, const V* now) const {
    return prep.solve(
        p, g0, [&](V x) { return before(p, direction(prep.grad(x, g0), now[0])); },
        [&] { return std::array<V, 2>{neg_clr / (sqrt(now[0]) + eps), V::set1(0.0f)}; });
  }

  const PreparedGrad<V> prep;
  const V init, eps, neg_clr, clr;
};

// One Adagrad step over n elements: q.p and q.s[0] (the accumulator, "sum").
template <class V, class Io>
void adagrad(const Adagrad::Args a, Ptrs q, int64_t n, Io io) {
  const AdagradV<V> c(a);
  for_each_vector<V::N>(n, [&](int64_t i, auto lanes) {
    V p0, g0, p, g, now[kMaxSlots] = {};
    c.prep.load(q, i, lanes, p0, g0, p, g);
    // The accumulator starts at initial_accumulator_value: on the first step it is not read.
    now[0] = mul_add(g, g, a.first ? c.init : V::load(q.s[0] + i, lanes));
    io.state(q, 0, i, lanes, now[0]);
    const V d = c.direction(g, now[0]);
    const V p1 = mul_add(c.neg_clr, d, p);
    io.param(q, i, lanes, p0, g0, p1, [&] { return fast_guess(c, p1, d, g0, nullptr, now); });
  });
}

}  // namespace FO_TARGET
}  // namespace fastoptim

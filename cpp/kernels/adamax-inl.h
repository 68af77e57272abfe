// Adamax kernel (see adamax.h for the math). Included per target.
#include "kernels/adamax.h"
#include "kernels/common-inl.h"
#include "kernels/io-inl.h"

namespace fastoptim {
namespace FO_TARGET {

template <class V>
struct AdamaxV {
  explicit AdamaxV(const Adamax::Args& a)
      : prep(a.prep), moments(a.moments), b2(V::set1(a.beta2)), eps(V::set1(a.eps)),
        neg_clr(V::set1(a.neg_clr)), clr(-neg_clr) {}

  V before(V p, V d) const { return prep.unscale(mul_add(clr, d, p)); }
  V guess(V p, V /*g0*/, const V* /*old*/, const V* now) const { return before(p, now[0] / now[1]); }

  const PreparedGrad<V> prep;
  const MomentsV<V> moments;
  const V b2, eps, neg_clr, clr;
};

// One Adamax step over n elements: q.p and state q.s = {exp_avg, exp_inf}.
template <class V, class Io>
void adamax(const Adamax::Args a, Ptrs q, int64_t n, Io io) {
  const AdamaxV<V> c(a);
  for_each_vector<V::N>(n, [&](int64_t i, auto lanes) {
    V p0, g0, p, g, now[kMaxSlots] = {};
    c.prep.load(q, i, lanes, p0, g0, p, g);
    now[0] = c.moments.first(V::load(q.s[0] + i, lanes), g);
    now[1] = max(c.b2 * V::load(q.s[1] + i, lanes), abs(g) + c.eps);
    io.state(q, 0, i, lanes, now[0]);
    io.state(q, 1, i, lanes, now[1]);
    const V d = now[0] / now[1];
    const V p1 = mul_add(c.neg_clr, d, p);
    io.param(q, i, lanes, p0, g0, p1, [&] { return c.before(p1, d); });
  });
}

}  // namespace FO_TARGET
}  // namespace fastoptim

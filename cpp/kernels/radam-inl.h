// RAdam kernel (see radam.h for the math). Included per target.
#include "kernels/common-inl.h"
#include "kernels/io-inl.h"
#include "kernels/radam.h"

namespace fastoptim {
namespace FO_TARGET {

template <class V>
struct RadamV {
  explicit RadamV(const Radam::Args& a)
      : a(a), prep(a.prep), moments(a.moments), eps(V::set1(a.eps)), coef(V::set1(a.neg_coef)),
        neg_coef(-coef) {}

  // Early steps (rho_t <= 5) take an un-adapted momentum step.
  V step(V m, V v) const { return a.rectified ? m / (sqrt(v) + eps) : m; }
  V before(V p, V d) const { return prep.unscale(mul_add(neg_coef, d, p)); }
  V guess(V p, V /*g0*/, const V* /*old*/, const V* now) const {
    return before(p, step(now[0], now[1]));
  }
  // m and v are updated in place by a guarded step and restored from their new
  // values (io-inl.h, MomentsV::estimate).
  uint32_t restored_slots() const { return Radam::kRestoredSlots; }
  V estimate(int k, V now, V g) const { return moments.estimate(k, now, g); }

  const Radam::Args& a;
  const PreparedGrad<V> prep;
  const MomentsV<V> moments;
  const V eps, coef, neg_coef;
};

// One RAdam step over n elements: q.p and state q.s = {exp_avg, exp_avg_sq}.
template <class V, class Io>
void radam(const Radam::Args args, Ptrs q, int64_t n, Io io_args) {
  using Args = Radam::Args;
  specialize<Radam::kRestoredSlots>(
      n, args, io_args,
      [q, n](const Args& a, auto& io) FO_INLINE {
        const RadamV<V> c(a);
        for_each_vector<V::N>(n, [&](int64_t i, auto lanes) FO_INLINE {
          V p0, g0, p, g, now[kMaxSlots] = {};
          c.prep.load(q, i, lanes, p0, g0, p, g);
          c.moments.update(q, i, lanes, io, g, now);
          const V d = c.step(now[0], now[1]);
          const V p1 = mul_add(c.coef, d, p);
          io.param(q, i, lanes, p0, g0, p1, [&] { return c.before(p1, d); });
        });
      },
      Flag<&Args::rectified>{}, Flag<&GradPrep::coupled>{}, Flag<&GradPrep::decoupled>{});
}

}  // namespace FO_TARGET
}  // namespace fastoptim

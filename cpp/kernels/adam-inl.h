// Adam kernel, once for every vector type (see adam.h for the math). Included per target.
#include "kernels/adam.h"
#include "kernels/common-inl.h"
#include "kernels/io-inl.h"

namespace fastoptim {
namespace FO_TARGET {

template <class V>
struct AdamV {
  explicit AdamV(const Adam::Args& a)
      : a(a), prep(a.prep), moments(a.moments), inv_bc2(V::set1(a.inv_bias_correction2_sqrt)),
        eps(V::set1(a.eps)), neg_step(V::set1(a.neg_step_size)), step(-neg_step) {}

  // sqrt(v) / sqrt(1 - b2^t) as a multiply: one divide per element is the throughput limit.
  V direction(V m, V v) const { return m / mul_add(sqrt(v), inv_bc2, eps); }
  // The parameter before the step, from the one after it and the step direction d...
  V before(V p, V d) const { return prep.unscale(mul_add(step, d, p)); }
  // ...recomputed from the new moments (io-inl.h).
  V guess(V p, V /*g0*/, const V* /*old*/, const V* now) const {
    return before(p, direction(now[0], now[a.amsgrad ? 2 : 1]));
  }
  // m and v (not amsgrad's maximum) are updated in place by a guarded step and restored from their new
  // values (io-inl.h, MomentsV::estimate).
  uint32_t restored_slots() const { return Adam::kRestoredSlots; }
  V estimate(int k, V now, V g) const { return moments.estimate(k, now, g); }

  const Adam::Args& a;
  const PreparedGrad<V> prep;
  const MomentsV<V> moments;
  const V inv_bc2, eps, neg_step, step;
};

// One Adam step over n elements: q.p, and state q.s = {exp_avg, exp_avg_sq, max_exp_avg_sq
// (amsgrad only)}. One read and one write of each array.
template <class V, class Io>
void adam(const Adam::Args args, Ptrs q, int64_t n, Io io_args) {
  using Args = Adam::Args;
  specialize<Adam::kRestoredSlots>(
      n, args, io_args,
      [q, n](const Args& a, auto& io) FO_INLINE {
        const AdamV<V> c(a);
        for_each_vector<V::N>(n, [&](int64_t i, auto lanes) FO_INLINE {
          V p0, g0, p, g, now[kMaxSlots] = {};
          c.prep.load(q, i, lanes, p0, g0, p, g);
          c.moments.update(q, i, lanes, io, g, now);
          if (a.amsgrad) {
            now[2] = max(V::load(q.s[2] + i, lanes), now[1]);
            io.state(q, 2, i, lanes, now[2]);
          }
          const V d = c.direction(now[0], now[a.amsgrad ? 2 : 1]);
          const V p1 = mul_add(c.neg_step, d, p);
          io.param(q, i, lanes, p0, g0, p1, [&] { return c.before(p1, d); });
        });
      },
      Flag<&Args::amsgrad>{}, Flag<&GradPrep::coupled>{}, Flag<&GradPrep::decoupled>{});
}

}  // namespace FO_TARGET
}  // namespace fastoptim

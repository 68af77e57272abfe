// Bandwidth-ceiling kernel (see traffic.h). Included per target.
#include "kernels/io-inl.h"
#include "kernels/traffic.h"

namespace fastoptim {
namespace FO_TARGET {

template <class V>
struct TrafficV {
  explicit TrafficV(const Traffic::Args& a) : zero(V::set1(a.zero)) {}
  V guess(V p, V /*g0*/, const V* /*old*/, const V* /*now*/) const { return p; }
  const V zero;
};

// Writes every array back unchanged (x + 0 * g), through io like an update rule, so that the
// guarded ceiling (second state buffers, streaming stores) can be measured too.
template <class V, class Io>
void traffic(const Traffic::Args a, Ptrs q, int64_t n, Io io) {
  const TrafficV<V> c(a);
  for_each_vector<V::N>(n, [&](int64_t i, auto lanes) {
    const V g0 = V::load(q.g + i, lanes), g = g0 * c.zero;
    for (int k = 0; k < kMaxSlots; ++k)
      if (q.s[k]) io.state(q, k, i, lanes, V::load(q.s[k] + i, lanes) + g);
    const V p0 = V::load(q.p + i, lanes), p1 = p0 + g;
    io.param(q, i, lanes, p0, g0, p1, [&] { return c.guess(p1, g0, nullptr, nullptr); });
  });
}

}  // namespace FO_TARGET
}  // namespace fastoptim

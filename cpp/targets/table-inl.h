// Instantiates every kernel for the vector type of the including target. Each targets/<t>.cc
// defines FO_TARGET (the namespace that keeps its code apart from other targets', so the linker
// never mixes instruction sets) and includes its simd/vec_<t>.h before this file.
#include <utility>

#include "dispatch.h"
#include "kernels/adadelta-inl.h"
#include "kernels/adagrad-inl.h"
#include "kernels/adam-inl.h"
#include "kernels/adamax-inl.h"
#include "kernels/finite-inl.h"
#include "kernels/lion-inl.h"
#include "kernels/nadam-inl.h"
#include "kernels/proximal-inl.h"
#include "kernels/radam-inl.h"
#include "kernels/reduce-inl.h"
#include "kernels/rmsprop-inl.h"
#include "kernels/sgd-inl.h"
#include "kernels/traffic-inl.h"
#include "kernels/vector-inl.h"

namespace fastoptim {
namespace FO_TARGET {

// Rule's kernel for every storage width of state, gradient and parameter (the overload of
// step<Vec, F> that takes its Args).
template <class Rule, int... kStates>
void set_kernels(Kernels& t, std::integer_sequence<int, kStates...>) {
  auto for_state = [&t](auto s) {
    constexpr auto kState = static_cast<StateKind>(decltype(s)::value);
    t.template set<Rule>(kState, false, false, &step<Vec, Formats<kState, false, false>>);
    t.template set<Rule>(kState, true, false, &step<Vec, Formats<kState, true, false>>);
    t.template set<Rule>(kState, false, true, &step<Vec, Formats<kState, false, true>>);
    t.template set<Rule>(kState, true, true, &step<Vec, Formats<kState, true, true>>);
  };
  (for_state(std::integral_constant<int, kStates>{}), ...);
}

// n 16-bit values widened to float32.
void widen(const uint16_t* x, float* out, int64_t n, GradFormat f) {
  for_each_vector<Vec::N>(n, [&](int64_t i, auto lanes) {
    (f == GradFormat::kBfloat16 ? Vec::load_bf16(x + i, lanes) : Vec::load_f16(x + i, lanes))
        .store(out + i, lanes);
  });
}

const Kernels* table() {
  static const Kernels k = [] {
    Kernels t;
    t.name = FO_TARGET_NAME;
    AllRules::for_each([&t](auto rule) {
      set_kernels<decltype(rule)>(t, std::make_integer_sequence<int, kStateKinds>{});
    });
    t.widen = &widen;
    using Int8 = StateIo<Vec, Formats<StateKind::kInt8, false, false>>;
    t.encode_int8 = &Int8::encode;
    t.decode_int8 = &Int8::decode;
    t.any_nonfinite = &any_nonfinite<Vec>;
    t.sum_squares = &sum_squares;
    t.sum_abs = &sum_abs;
    t.sum_pow = &sum_pow;
    t.dot = &dot;
    t.max_abs = &max_abs;
    t.axpy = &axpy<Vec>;
    t.scale = &scale<Vec>;
    t.ema_update = &ema_update<Vec>;
    t.lookahead_sync = &lookahead_sync<Vec>;
    t.swap = &swap<Vec>;
    return t;
  }();
  return &k;
}

}  // namespace FO_TARGET
}  // namespace fastoptim

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

// Rule's kernel for every state format and gradient format (the overload of step<Vec, F> that
// takes its Args).
template <class Rule, int... kStates, int... kGrads>
void set_kernels(Kernels& t, std::integer_sequence<int, kStates...>,
                 std::integer_sequence<int, kGrads...>) {
  auto for_state = [&t](auto s) {
    constexpr auto kState = static_cast<StateFormat>(decltype(s)::value);
    (t.template set<Rule>(kState, static_cast<GradFormat>(kGrads),
                          &step<Vec, Formats<kState, static_cast<GradFormat>(kGrads)>>),
     ...);
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
      set_kernels<decltype(rule)>(t, std::make_integer_sequence<int, kStateFormats>{},
                                  std::make_integer_sequence<int, kGradFormats>{});
    });
    t.widen = &widen;
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

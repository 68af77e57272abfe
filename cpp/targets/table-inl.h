// Instantiates every kernel for the vector type of the including target. Each targets/<t>.cc
// defines FO_TARGET (the namespace that keeps its code apart from other targets', so the linker
// never mixes instruction sets) and includes its simd/vec_<t>.h before this file.
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

const Kernels* table() {
  static const Kernels k = [] {
    Kernels t;
    t.name = FO_TARGET_NAME;
    // Each rule's kernels: the overload of step<Vec, F> that takes its Args, per state format.
    AllRules::for_each([&t](auto rule) {
      using Rule = decltype(rule);
      t.template set<Rule>(StateFormat::kFloat32, &step<Vec, StateFormat::kFloat32>);
      t.template set<Rule>(StateFormat::kBf16Stochastic, &step<Vec, StateFormat::kBf16Stochastic>);
      t.template set<Rule>(StateFormat::kBf16Nearest, &step<Vec, StateFormat::kBf16Nearest>);
    });
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

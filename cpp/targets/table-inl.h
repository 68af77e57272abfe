// Instantiates every kernel for the vector type of the including target. Each targets/<t>.cc
// defines FO_TARGET (the namespace that keeps its code apart from other targets', so the linker
// never mixes instruction sets) and includes its simd/vec_<t>.h before this file.
#include "dispatch.h"
#include "kernels/adadelta-inl.h"
#include "kernels/adagrad-inl.h"
#include "kernels/adam-inl.h"
#include "kernels/adamax-inl.h"
#include "kernels/ema-inl.h"
#include "kernels/finite-inl.h"
#include "kernels/lion-inl.h"
#include "kernels/lookahead-inl.h"
#include "kernels/nadam-inl.h"
#include "kernels/proximal-inl.h"
#include "kernels/radam-inl.h"
#include "kernels/reduce-inl.h"
#include "kernels/rmsprop-inl.h"
#include "kernels/sgd-inl.h"
#include "kernels/traffic-inl.h"

namespace fastoptim {
namespace FO_TARGET {

// An update rule's three entry points (io-inl.h): kernel K, vector constants C.
#define FO_UPDATE_RULE(Rule, K, C)                                              \
  t.set<Rule>(&run_in_place<Vec, Rule::Args, &K<Vec, InPlace>>,                 \
              &run_guarded<Vec, Rule::Args, &K<Vec, Guarded<Vec>>>,             \
              &run_undo<Vec, Rule::Args, C<Vec>>)

const Kernels* table() {
  static const Kernels k = [] {
    Kernels t;
    t.name = FO_TARGET_NAME;
    t.any_nonfinite = &any_nonfinite<Vec>;
    t.sum_squares = &sum_squares;
    t.sum_abs = &sum_abs;
    t.sum_pow = &sum_pow;
    t.dot = &dot;
    t.max_abs = &max_abs;
    FO_UPDATE_RULE(Sgd, sgd, SgdV);
    FO_UPDATE_RULE(Adam, adam, AdamV);
    FO_UPDATE_RULE(Adagrad, adagrad, AdagradV);
    FO_UPDATE_RULE(Rmsprop, rmsprop, RmspropV);
    FO_UPDATE_RULE(Adadelta, adadelta, AdadeltaV);
    FO_UPDATE_RULE(Adamax, adamax, AdamaxV);
    FO_UPDATE_RULE(Nadam, nadam, NadamV);
    FO_UPDATE_RULE(Radam, radam, RadamV);
    FO_UPDATE_RULE(Lion, lion, LionV);
    FO_UPDATE_RULE(ProximalSgd, proximal_sgd, ProximalSgdV);
    FO_UPDATE_RULE(ProximalAdagrad, proximal_adagrad, ProximalAdagradV);
    t.set<LookaheadSync>(&lookahead_sync<Vec>);
    t.set<EmaUpdate>(&ema_update<Vec>);
    t.set<EmaSwap>(&ema_swap<Vec>);
    FO_UPDATE_RULE(Traffic, traffic, TrafficV);
#undef FO_UPDATE_RULE
    return t;
  }();
  return &k;
}

}  // namespace FO_TARGET
}  // namespace fastoptim

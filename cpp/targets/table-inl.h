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

const Kernels* table() {
  static const Kernels k = [] {
    Kernels t;
    t.name = FO_TARGET_NAME;
    t.any_nonfinite = &any_nonfinite<Vec>;
    t.sum_squares = &sum_squares;
    t.set<Sgd>(&sgd<Vec>);
    t.set<Adam>(&adam<Vec>);
    t.set<Adagrad>(&adagrad<Vec>);
    t.set<Rmsprop>(&rmsprop<Vec>);
    t.set<Adadelta>(&adadelta<Vec>);
    t.set<Adamax>(&adamax<Vec>);
    t.set<Nadam>(&nadam<Vec>);
    t.set<Radam>(&radam<Vec>);
    t.set<Lion>(&lion<Vec>);
    t.set<ProximalSgd>(&proximal_sgd<Vec>);
    t.set<ProximalAdagrad>(&proximal_adagrad<Vec>);
    t.set<LookaheadSync>(&lookahead_sync<Vec>);
    t.set<EmaUpdate>(&ema_update<Vec>);
    t.set<EmaSwap>(&ema_swap<Vec>);
    t.set<Traffic>(&traffic<Vec>);
    return t;
  }();
  return &k;
}

}  // namespace FO_TARGET
}  // namespace fastoptim

// SGD with optional momentum, dampening, Nesterov momentum, L2 weight decay and maximize.
//   g <- -g if maximize;  g <- g + wd * p
//   buf <- g (first step)  |  momentum * buf + (1 - dampening) * g (later steps)
//   g <- g + momentum * buf if nesterov else buf                (when momentum != 0)
//   p <- p - lr * g
#pragma once
#include "kernels/rule.h"

namespace fastoptim {

struct Sgd : NoScalars {
  static constexpr const char* kName = "SGD";
  static constexpr int kSlots = 1;
  static constexpr const char* kSlotNames[kSlots] = {"momentum_buffer"};

  struct Hyper {
    double lr, momentum, dampening, weight_decay;
    bool nesterov, maximize;
  };
  struct Args {
    GradPrep prep;
    float neg_lr, momentum, one_minus_dampening;
    int32_t use_momentum, first, nesterov;
  };

  template <class G>
  static Hyper read(G& g) {
    Hyper h;
    h.lr = g.real("lr", Bound::kNonNegative);
    h.momentum = g.real("momentum", Bound::kNonNegative);
    h.dampening = g.real("dampening", Bound::kAny);
    h.weight_decay = g.real("weight_decay", Bound::kNonNegative);
    h.nesterov = g.flag("nesterov");
    h.maximize = g.flag("maximize");
    if (h.nesterov && (h.momentum <= 0 || h.dampening != 0))
      g.fail("nesterov", "Nesterov momentum requires a momentum and zero dampening");
    return h;
  }
  static bool needs_slot(const Hyper& h, int /*slot*/) { return h.momentum != 0; }
  static Args args(const Hyper& h, int64_t step, double* /*scalars*/) {
    Args a{};
    a.neg_lr = static_cast<float>(-h.lr);
    a.momentum = static_cast<float>(h.momentum);
    a.one_minus_dampening = static_cast<float>(1.0 - h.dampening);
    a.prep = GradPrep::make(h.maximize, h.weight_decay);
    a.use_momentum = h.momentum != 0;
    a.first = step == 1;
    a.nesterov = h.nesterov;
    return a;
  }
};

}  // namespace fastoptim

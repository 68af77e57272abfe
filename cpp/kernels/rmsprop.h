// RMSprop (Hinton 2012; centered variant: Graves 2013) as torch.optim computes it.
//   g <- -g if maximize;  g <- g + wd * p
//   sq <- alpha * sq + (1 - alpha) * g^2
//   avg <- sqrt(sq - ga^2) + eps with ga <- ga + (1 - alpha) * (g - ga)   if centered
//   avg <- sqrt(sq) + eps                                                otherwise
//   buf <- momentum * buf + g / avg;  p <- p - lr * buf                    if momentum > 0
//   p <- p - lr * g / avg                                                 otherwise
#pragma once
#include "kernels/rule.h"

namespace fastoptim {

struct Rmsprop : NoScalars {
  static constexpr const char* kName = "RMSprop";
  static constexpr int kSlots = 3;
  static constexpr const char* kSlotNames[kSlots] = {"square_avg", "momentum_buffer", "grad_avg"};

  struct Hyper {
    double lr, alpha, eps, weight_decay, momentum;
    bool centered, maximize;
  };
  struct Args {
    GradPrep prep;
    Moments averages;  // of g (centered) and g^2, both with factor alpha
    float eps, momentum, neg_lr;
    int32_t use_momentum, centered;
  };

  template <class G>
  static Hyper read(G& g) {
    Hyper h;
    h.lr = g.real("lr", Bound::kNonNegative);
    h.alpha = g.real("alpha", Bound::kClosedUnit);
    h.eps = g.real("eps", Bound::kNonNegative);
    h.weight_decay = g.real("weight_decay", Bound::kNonNegative);
    h.momentum = g.real("momentum", Bound::kNonNegative);
    h.centered = g.flag("centered");
    h.maximize = g.flag("maximize");
    return h;
  }
  static bool needs_slot(const Hyper& h, int slot) {
    return slot == 0 || (slot == 1 && h.momentum > 0) || (slot == 2 && h.centered);
  }
  static Args args(const Hyper& h, int64_t, double*) {
    Args a{};
    a.prep = GradPrep::make(h.maximize, h.weight_decay);
    a.averages = Moments::make(h.alpha, h.alpha);
    a.eps = static_cast<float>(h.eps);
    a.momentum = static_cast<float>(h.momentum);
    a.neg_lr = static_cast<float>(-h.lr);
    a.use_momentum = h.momentum > 0;
    a.centered = h.centered;
    return a;
  }
};

}  // namespace fastoptim

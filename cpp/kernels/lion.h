// Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"; optax `lion`).
//   g <- -g if maximize
//   c <- m + (1 - b1) * (g - m)
//   p <- p * (1 - lr * wd) - lr * sign(c)          (sign(0) = 0)
//   m <- m + (1 - b2) * (g - m)
#pragma once
#include "kernels/rule.h"

namespace fastoptim {

struct Lion : NoScalars {
  static constexpr const char* kName = "Lion";
  static constexpr int kSlots = 1;
  static constexpr const char* kSlotNames[kSlots] = {"exp_avg"};

  struct Hyper {
    double lr, beta1, beta2, weight_decay;
    bool maximize;
  };
  struct Args {
    GradPrep prep;     // decoupled weight decay
    Moments momentum;  // exp_avg's update, with beta2
    float one_minus_beta1, neg_lr;
  };

  template <class G>
  static Hyper read(G& g) {
    Hyper h;
    h.lr = g.real("lr", Bound::kNonNegative);
    g.betas("betas", &h.beta1, &h.beta2);
    h.weight_decay = g.real("weight_decay", Bound::kNonNegative);
    h.maximize = g.flag("maximize");
    return h;
  }
  static bool needs_slot(const Hyper&, int) { return true; }
  static Args args(const Hyper& h, int64_t, double*) {
    Args a{};
    a.prep = GradPrep::make(h.maximize, h.weight_decay, h.lr, /*decoupled=*/true);
    a.momentum = Moments::make(h.beta2, 0.0);
    a.one_minus_beta1 = static_cast<float>(1.0 - h.beta1);
    a.neg_lr = static_cast<float>(-h.lr);
    return a;
  }
};

}  // namespace fastoptim

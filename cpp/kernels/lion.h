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
    float grad_scale, param_scale, one_minus_beta1, one_minus_beta2, neg_lr;
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
    a.grad_scale = h.maximize ? -1.0f : 1.0f;
    a.param_scale = static_cast<float>(1.0 - h.lr * h.weight_decay);
    a.one_minus_beta1 = static_cast<float>(1.0 - h.beta1);
    a.one_minus_beta2 = static_cast<float>(1.0 - h.beta2);
    a.neg_lr = static_cast<float>(-h.lr);
    return a;
  }
};

}  // namespace fastoptim

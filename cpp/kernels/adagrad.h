// Adagrad (Duchi et al. 2011) as torch.optim computes it.
//   g <- -g if maximize;  g <- g + wd * p
//   clr <- lr / (1 + (t - 1) * lr_decay)
//   sum <- sum + g^2                 (sum starts at initial_accumulator_value)
//   p <- p - clr * g / (sqrt(sum) + eps)
#pragma once
#include "kernels/rule.h"

namespace fastoptim {

struct Adagrad : NoScalars {
  static constexpr const char* kName = "Adagrad";
  static constexpr int kSlots = 1;
  static constexpr const char* kSlotNames[kSlots] = {"sum"};

  struct Hyper {
    double lr, lr_decay, weight_decay, initial_accumulator_value, eps;
    bool maximize;
  };
  struct Args {
    GradPrep prep;
    float initial_sum, eps, neg_clr;
    int32_t first;
  };

  template <class G>
  static Hyper read(G& g) {
    Hyper h;
    h.lr = g.real("lr", Bound::kNonNegative);
    h.lr_decay = g.real("lr_decay", Bound::kNonNegative);
    h.weight_decay = g.real("weight_decay", Bound::kNonNegative);
    h.initial_accumulator_value = g.real("initial_accumulator_value", Bound::kNonNegative);
    h.eps = g.real("eps", Bound::kNonNegative);
    h.maximize = g.flag("maximize");
    return h;
  }
  static bool needs_slot(const Hyper&, int) { return true; }
  static Args args(const Hyper& h, int64_t step, double*) {
    Args a{};
    a.prep = GradPrep::make(h.maximize, h.weight_decay);
    a.initial_sum = static_cast<float>(h.initial_accumulator_value);
    a.eps = static_cast<float>(h.eps);
    a.neg_clr = static_cast<float>(-h.lr / (1.0 + static_cast<double>(step - 1) * h.lr_decay));
    a.first = step == 1;
    return a;
  }
};

}  // namespace fastoptim

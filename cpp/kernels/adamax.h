// Adamax (Kingma & Ba 2015, section 7.1) as torch.optim computes it.
//   g <- -g if maximize;  g <- g + wd * p
//   m <- m + (1 - b1) * (g - m)
//   u <- max(b2 * u, |g| + eps)                 (eps inside the max)
//   p <- p - lr / (1 - b1^t) * m / u
#pragma once
#include <cmath>

#include "kernels/rule.h"

namespace fastoptim {

struct Adamax : NoScalars {
  static constexpr const char* kName = "Adamax";
  static constexpr int kSlots = 2;
  static constexpr const char* kSlotNames[kSlots] = {"exp_avg", "exp_inf"};

  struct Hyper {
    double lr, beta1, beta2, eps, weight_decay;
    bool maximize;
  };
  struct Args {
    GradPrep prep;
    Moments moments;  // the first moment; exp_inf uses beta2 in its own way
    float beta2, eps, neg_clr;
  };

  template <class G>
  static Hyper read(G& g) {
    Hyper h;
    h.lr = g.real("lr", Bound::kNonNegative);
    g.betas("betas", &h.beta1, &h.beta2);
    h.eps = g.real("eps", Bound::kNonNegative);
    h.weight_decay = g.real("weight_decay", Bound::kNonNegative);
    h.maximize = g.flag("maximize");
    return h;
  }
  static bool needs_slot(const Hyper&, int) { return true; }
  static Args args(const Hyper& h, int64_t step, double*) {
    Args a{};
    a.prep = GradPrep::make(h.maximize, h.weight_decay);
    a.moments = Moments::make(h.beta1, h.beta2);
    a.beta2 = static_cast<float>(h.beta2);
    a.eps = static_cast<float>(h.eps);
    a.neg_clr = static_cast<float>(-h.lr / (1.0 - std::pow(h.beta1, static_cast<double>(step))));
    return a;
  }
};

}  // namespace fastoptim

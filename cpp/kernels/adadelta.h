// Adadelta (Zeiler 2012) as torch.optim computes it.
//   g <- -g if maximize;  g <- g + wd * p
//   sq <- rho * sq + (1 - rho) * g^2
//   delta <- sqrt(acc + eps) / sqrt(sq + eps) * g
//   acc <- rho * acc + (1 - rho) * delta^2
//   p <- p - lr * delta
#pragma once
#include "kernels/rule.h"

namespace fastoptim {

struct Adadelta : NoScalars {
  static constexpr const char* kName = "Adadelta";
  static constexpr int kSlots = 2;
  static constexpr const char* kSlotNames[kSlots] = {"square_avg", "acc_delta"};

  struct Hyper {
    double lr, rho, eps, weight_decay;
    bool maximize;
  };
  struct Args {
    GradPrep prep;
    Moments averages;  // of g^2 and delta^2, both with factor rho
    float eps, neg_lr;
  };

  template <class G>
  static Hyper read(G& g) {
    Hyper h;
    h.lr = g.real("lr", Bound::kNonNegative);
    h.rho = g.real("rho", Bound::kClosedUnit);
    h.eps = g.real("eps", Bound::kNonNegative);
    h.weight_decay = g.real("weight_decay", Bound::kNonNegative);
    h.maximize = g.flag("maximize");
    return h;
  }
  static bool needs_slot(const Hyper&, int) { return true; }
  static Args args(const Hyper& h, int64_t, double*) {
    Args a{};
    a.prep = GradPrep::make(h.maximize, h.weight_decay);
    a.averages = Moments::make(h.rho, h.rho);
    a.eps = static_cast<float>(h.eps);
    a.neg_lr = static_cast<float>(-h.lr);
    return a;
  }
};

}  // namespace fastoptim

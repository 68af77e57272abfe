// Proximal methods with L1/L2 regularization, TF1 semantics (ProximalGradientDescent and
// ProximalAdagrad). The soft-threshold yields exact zeros.
//   ProximalSGD:      a = lr
//   ProximalAdagrad:  sum <- sum + g^2 (starts at initial_accumulator_value);  a = lr / sqrt(sum)
//   q <- p - a * g
//   p <- sign(q) * max(|q| - a * l1, 0) / (1 + a * l2)
#pragma once
#include "kernels/rule.h"

namespace fastoptim {

struct ProximalSgd : NoScalars {
  static constexpr const char* kName = "ProximalSGD";
  static constexpr int kSlots = 0;
  static constexpr const char* kSlotNames[1] = {""};

  struct Hyper {
    double lr, l1, l2;
    bool maximize;
  };
  struct Args {
    GradPrep prep;
    float lr, l1, l2;
  };

  template <class G>
  static Hyper read(G& g) {
    Hyper h;
    h.lr = g.real("lr", Bound::kNonNegative);
    h.l1 = g.real("l1", Bound::kNonNegative);
    h.l2 = g.real("l2", Bound::kNonNegative);
    h.maximize = g.flag("maximize");
    return h;
  }
  static bool needs_slot(const Hyper&, int) { return false; }
  static Args args(const Hyper& h, int64_t, double*) {
    Args a{};
    a.prep = GradPrep::make(h.maximize);
    a.lr = static_cast<float>(h.lr);
    a.l1 = static_cast<float>(h.l1);
    a.l2 = static_cast<float>(h.l2);
    return a;
  }
};

// ProximalSGD's hyperparameters and arguments, plus the accumulator's.
struct ProximalAdagrad : NoScalars {
  static constexpr const char* kName = "ProximalAdagrad";
  static constexpr int kSlots = 1;
  static constexpr const char* kSlotNames[kSlots] = {"sum"};

  struct Hyper : ProximalSgd::Hyper {
    double initial_accumulator_value;
  };
  struct Args : ProximalSgd::Args {
    float initial_sum;
    int32_t first;
  };

  template <class G>
  static Hyper read(G& g) {
    Hyper h;
    static_cast<ProximalSgd::Hyper&>(h) = ProximalSgd::read(g);
    h.initial_accumulator_value = g.real("initial_accumulator_value", Bound::kPositive);
    return h;
  }
  static bool needs_slot(const Hyper&, int) { return true; }
  static Args args(const Hyper& h, int64_t step, double* scalars) {
    Args a{};
    static_cast<ProximalSgd::Args&>(a) = ProximalSgd::args(h, step, scalars);
    a.initial_sum = static_cast<float>(h.initial_accumulator_value);
    a.first = step == 1;
    return a;
  }
};

}  // namespace fastoptim

// What every update rule shares: the pointers a kernel works on, and the validated reading of a
// param group's hyperparameters.
//
// A rule is a struct (see sgd.h, adam.h) with
//   kName, kSlots, kSlotNames     its torch name and the per-parameter state arrays it may keep
//   Hyper                         the group's hyperparameters, in double precision
//   Args                          what the kernel needs for one tensor at one step: float32 scalars
//                                 derived from Hyper and the step count (4-byte fields only, so
//                                 two Args compare equal with memcmp)
//   read(GroupReader&)            parses and validates Hyper; throws naming the bad argument
//   needs_slot(Hyper, slot)       whether the kernel reads/writes state slot `slot`
// Every rule whose kernel reads a gradient has Args::prep (a GradPrep) and applies it as it
// loads the gradient.
//   args(Hyper, step, scalars)    Args for step count `step` (1 on the first step); `scalars`
//                                 points at the tensor's kScalars per-tensor float state values
//                                 (kScalarNames, starting at kScalarInit), which args() advances
//   kScalars, kScalarNames, kScalarInit   per-tensor scalar state (NAdam's mu_product), or none
// and a kernel template <class V> void step(const Args&, Ptrs, int64_t n) in <rule>-inl.h, which
// updates n elements in place in one pass. The rule joins the list in rules.h.
#pragma once
#include <array>
#include <cstdint>

namespace fastoptim {

constexpr int kMaxSlots = 3;

// How state arrays are stored: float32, or bfloat16 rounded stochastically (unbiased; random
// bits from the element's index and the step's key) or to the nearest even.
enum class StateFormat : int32_t { kFloat32 = 0, kBf16Stochastic = 1, kBf16Nearest = 2 };
constexpr int kStateFormats = 3;
// How gradients come: float32, float16 (IEEE half) or bfloat16; each is widened exactly.
enum class GradFormat : int32_t { kFloat32 = 0, kFloat16 = 1, kBfloat16 = 2 };
constexpr int kGradFormats = 3;
// The formats a kernel is compiled for.
template <StateFormat S, GradFormat G>
struct Formats {
  static constexpr StateFormat kState = S;
  static constexpr GradFormat kGrad = G;
};

// One tensor's (or one chunk's) memory: parameter, gradient and up to three state arrays, all
// with the same number of elements (gradient and state elements of grad_bytes and state_bytes
// each). Unused slots are null.
struct Ptrs {
  float* p;
  const void* g;
  void* s[kMaxSlots];
  int64_t at;           // index of element 0 among all the optimizer's elements
  uint32_t key;         // stochastic rounding's key for this tensor's step (seed and step count)
  int32_t state_bytes;  // 4 (float32) or 2 (bfloat16)
  int32_t grad_bytes;   // 4 (float32) or 2 (float16, bfloat16)

  Ptrs offset(int64_t i) const {
    Ptrs r = *this;
    r.p += i;
    r.g = static_cast<const char*>(g) + i * grad_bytes;
    for (void*& x : r.s)
      if (x) x = static_cast<char*>(x) + i * state_bytes;
    r.at += i;
    return r;
  }
};

// A 32-bit integer hash ("lowbias32", C. Wellons): stochastic rounding's random bits.
inline uint32_t mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

// Bounds a real hyperparameter must satisfy (all must also be finite, never NaN).
enum class Bound { kAny, kNonNegative, kPositive, kUnit /* [0, 1) */, kClosedUnit /* [0, 1] */ };

// How every gradient-reading rule prepares the gradient before its own math:
//   g <- grad_scale * g     (-1 for maximize, times max_grad_norm's clipping coefficient)
//   g <- g + wd * p         (L2 weight decay, "coupled"), or instead
//   p <- p * (1 - lr * wd)  (decoupled weight decay: AdamW, NAdamW, RAdamW, Lion)
struct GradPrep {
  float grad_scale, weight_decay, param_scale;
  int32_t coupled, decoupled;

  static GradPrep make(bool maximize, double weight_decay = 0.0, double lr = 0.0,
                       bool decoupled = false) {
    GradPrep a{};
    a.grad_scale = maximize ? -1.0f : 1.0f;
    a.weight_decay = static_cast<float>(weight_decay);
    a.param_scale = static_cast<float>(1.0 - lr * weight_decay);
    a.coupled = !decoupled && weight_decay != 0;
    a.decoupled = decoupled && weight_decay != 0;
    return a;
  }
};

// Exponential moving averages of g and g^2, the moments of the Adam family (and RMSprop's and
// Adadelta's running averages):  m <- m + (1 - b1) (g - m),  v <- b2 v + (1 - b2) g^2.
struct Moments {
  float one_minus_beta1, beta2, one_minus_beta2;

  static Moments make(double beta1, double beta2) {
    return Moments{static_cast<float>(1.0 - beta1), static_cast<float>(beta2),
                   static_cast<float>(1.0 - beta2)};
  }
};

// The hyperparameters the Adam family (Adam, NAdam, RAdam, Adamax) shares, read and validated
// once here; each rule's Hyper derives from it and reads its own extras.
struct AdamFamilyHyper {
  double lr, beta1, beta2, eps, weight_decay;
  bool maximize, decoupled_weight_decay;

  // Reads lr, betas, eps, weight_decay, maximize and, if the rule has the option,
  // decoupled_weight_decay.
  template <class G>
  void read_common(G& g, bool has_decoupled_option) {
    lr = g.real("lr", Bound::kNonNegative);
    g.betas("betas", &beta1, &beta2);
    eps = g.real("eps", Bound::kNonNegative);
    weight_decay = g.real("weight_decay", Bound::kNonNegative);
    maximize = g.flag("maximize");
    decoupled_weight_decay = has_decoupled_option && g.flag("decoupled_weight_decay");
  }
  GradPrep prep() const {
    return GradPrep::make(maximize, weight_decay, lr, decoupled_weight_decay);
  }
  Moments moments() const { return Moments::make(beta1, beta2); }
};

// Base of rules that keep no per-tensor scalar state.
struct NoScalars {
  static constexpr int kScalars = 0;
  static constexpr std::array<const char*, 0> kScalarNames{};
  static constexpr std::array<double, 0> kScalarInit{};
};

}  // namespace fastoptim

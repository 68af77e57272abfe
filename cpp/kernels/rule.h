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
//   kRestoredSlots                (optional) the state slots a guarded step may update in place
//                                 and restore (kernels/io-inl.h). The rule's vector constants
//                                 then have restored_slots(), for their Args exactly the slots
//                                 the kernel writes through io.state(..., old, estimate) (a
//                                 subset of kRestoredSlots), and estimate(); and their guess()
//                                 must not read the old state of those slots (undo passes 0);
//                                 and the kernel runs its loop through specialize() (io-inl.h),
//                                 which finishes the low bits the step keeps
// and a kernel template <class V> void <rule>(const Args&, Ptrs, int64_t n) in <rule>-inl.h.
#pragma once
#include <array>
#include <cstdint>

namespace fastoptim {

constexpr int kMaxSlots = 3;

// One tensor's (or one chunk's) memory: parameter, gradient and up to three state arrays, all
// with the same number of float32 elements. Unused slots are null. State is read from s[k]; an
// in-place step writes it back there, a guarded step (nonfinite="skip"/"raise") writes it to
// d[k], a second buffer, so that the old state survives until the step is known to be good.
struct Ptrs {
  float* p;
  const float* g;
  float* s[kMaxSlots];
  float* d[kMaxSlots];

  Ptrs offset(int64_t i) const {
    Ptrs r = *this;
    r.p += i;
    r.g += i;
    for (int k = 0; k < kMaxSlots; ++k) {
      if (r.s[k]) r.s[k] += i;
      if (r.d[k]) r.d[k] += i;
    }
    return r;
  }
};

// What a guarded kernel call reports and where it logs the values it cannot undo by
// recomputation (see kernels/io-inl.h). The caller provides room for 4 n more entries.
struct Guard {
  // Element index (from the call's start) of each logged value, tagged with what it is in the
  // top two bits (kLogTagShift): 0 a parameter, 1 + k state slot k...
  uint32_t* offset;
  float* value;         // ...and its old value
  int64_t count;                   // entries used
  int64_t state_count[kMaxSlots];  // of which values of state slot k
  bool stream;  // write second state buffers with streaming stores (64-byte aligned)
  bool bad;     // out: some gradient element was NaN or infinite
  // The state slots, among those the rule can restore (its restored_slots()), updated in place
  // this step, each keeping the two lowest bits of every old value in bits[k] (2 n bits, as
  // kernels/io-inl.h packs them, low_bits_group(); room rounded up to 64 bytes, and 64-byte
  // aligned: they are streamed), rather than written to d[k]. A bit mask.
  uint32_t in_place;
  uint8_t* bits[kMaxSlots];
};
constexpr int kLogTagShift = 30;

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

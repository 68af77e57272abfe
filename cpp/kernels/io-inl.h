// How an update kernel writes its results: in place, or guarded (nonfinite="skip"/"raise").
// Included per target.
//
// Every rule kernel is written once as template <class V, class Io> and hands each new state
// vector to io.state() and each new parameter vector to io.param(). In place, those are plain
// stores. Guarded, a step must be undoable until the last gradient element has been seen
// finite, without a separate pass over the gradients and without backing up every array:
//   - new state goes to the second buffer d[k] (with streaming stores when large), so the old
//     state in s[k] is untouched: the same memory traffic as an in-place update;
//   - the parameter is updated in place, and the rule's guess() recomputes the old parameter
//     from what survives (the new parameter, the gradient, the old and the new state). Where
//     that recomputation is not bit-exact (float32 rounding, a parameter that crossed a binade,
//     a soft-threshold to zero), the old value is logged in the Guard: typically 0.1-3% of the
//     elements, 8 bytes each;
//   - every gradient element is checked for NaN/Inf in registers as it is used.
// undo() then restores parameters: guess() from memory (the same function on the same bits, so
// the same result), then the logged values on top.
#pragma once
#include <cmath>

#include "kernels/rule.h"

namespace fastoptim {
namespace FO_TARGET {

// Bits of the valid lanes of a vector of N lanes.
template <int N>
inline uint32_t lane_bits(Full) { return N >= 32 ? ~0u : (1u << N) - 1u; }
template <int N>
inline uint32_t lane_bits(Tail t) { return (1u << t.count) - 1u; }

// Propagate (torch's behaviour): state and parameters are updated in place.
struct InPlace {
  template <class V, class L>
  void state(const Ptrs& q, int k, int64_t i, L lanes, V x) { x.store(q.s[k] + i, lanes); }
  template <class V, class L, class Guess>
  void param(const Ptrs& q, int64_t i, L lanes, V /*p0*/, V /*g0*/, V p, Guess&& /*guess*/) {
    p.store(q.p + i, lanes);
  }
};

// Guarded: see the top of this file. finish() must be called after the kernel.
template <class V>
class Guarded {
 public:
  explicit Guarded(Guard& gd) : gd_(gd), acc_(V::set1(0.0f)) {}

  template <class L>
  void state(const Ptrs& q, int k, int64_t i, L lanes, V x) { store(q.d[k] + i, lanes, x); }

  // p0, g0: the parameter and gradient as stored before the step; p: the new parameter;
  // guess(): the rule's recomputation of p0 from the values that survive the step.
  template <class L, class Guess>
  void param(const Ptrs& q, int64_t i, L lanes, V p0, V g0, V p, Guess&& guess) {
    p.store(q.p + i, lanes);
    acc_ = acc_ + (g0 - g0);  // +0 for finite g0, NaN for NaN or Inf; NaN sticks
    uint32_t miss = V::differ(guess(), p0) & lane_bits<V::N>(lanes);
    if (miss) {
      float old[V::N];
      p0.store(old, Full{});
      for (; miss; miss &= miss - 1) {
        const int k = __builtin_ctz(miss);
        gd_.offset[gd_.count] = static_cast<uint32_t>(i + k);
        gd_.value[gd_.count++] = old[k];
      }
    }
  }

  void finish() {
    float lanes[V::N];
    acc_.store(lanes, Full{});
    for (float f : lanes) gd_.bad = gd_.bad || f != f;
  }

 private:
  void store(float* d, Full, V x) {
    if (gd_.stream)
      x.stream(d);
    else
      x.store(d, Full{});
  }
  void store(float* d, Tail t, V x) { x.store(d, t); }

  Guard& gd_;
  V acc_;
};

// Restores the parameters of a guarded step over n elements from c.guess(p, g0, old, now):
// q.s[] holds the old state and q.d[] the new. The caller then writes the logged values.
template <class V, class C>
void undo(const C& c, const Ptrs& q, int64_t n) {
  for_each_vector<V::N>(n, [&](int64_t i, auto lanes) {
    V old[kMaxSlots], now[kMaxSlots];
    for (int k = 0; k < kMaxSlots; ++k) {
      old[k] = q.s[k] ? V::load(q.s[k] + i, lanes) : V::set1(0.0f);
      now[k] = q.d[k] ? V::load(q.d[k] + i, lanes) : V::set1(0.0f);
    }
    c.guess(V::load(q.p + i, lanes), V::load(q.g + i, lanes), old, now).store(q.p + i, lanes);
  });
}

// The three entry points of a rule, for the kernel table: in place, guarded, undo. K is the
// rule's kernel template, C its vector constants (with guess()).
template <class V, class Args, void (*K)(const Args&, Ptrs, int64_t, InPlace&)>
void run_in_place(const Args& a, Ptrs q, int64_t n) {
  InPlace io;
  K(a, q, n, io);
}
template <class V, class Args, void (*K)(const Args&, Ptrs, int64_t, Guarded<V>&)>
void run_guarded(const Args& a, Ptrs q, int64_t n, Guard& gd) {
  Guarded<V> io(gd);
  K(a, q, n, io);
  io.finish();
}
template <class V, class Args, class C>
void run_undo(const Args& a, Ptrs q, int64_t n) {
  undo<V>(C(a), q, n);
}

}  // namespace FO_TARGET
}  // namespace fastoptim

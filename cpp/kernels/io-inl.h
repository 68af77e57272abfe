// How an update kernel writes its results: in place, or guarded (nonfinite="skip"/"raise").
// Included per target.
//
// Every rule kernel is written once as template <class V, class Io> and hands each new state
// vector to io.state() and each new parameter vector to io.param(). In place, those are plain
// stores. Guarded, a step must be undoable until the last gradient element has been seen
// finite, without a separate pass over the gradients and without backing up every array:
//   - state the rule can restore (its restored_slots(): moving averages such as Adam's m and v
//     or SGD's momentum buffer) is updated in place. The rule's estimate() recomputes the old
//     value from the new one and the gradient by the inverse formula, which lands within a
//     float or two of it, and the old value's two lowest bits, which the step keeps aside
//     (Guard::bits, 2 bits per element), pick it among the four floats around the estimate
//     (V::with_low_bits). Where the old value is not among them (state that grew by binades,
//     as in the first steps), it is logged;
//   - other state goes to the second buffer d[k] (with streaming stores when large), so the
//     old state in s[k] is untouched: the same memory traffic as an in-place update, though
//     streaming stores cost more than write-back on some machines (bench/store_pattern.cc);
//   - the parameter is updated in place, and the rule's guess() recomputes the old parameter
//     from what survives (the new parameter, the gradient, the old and the new state). Where
//     that recomputation is not bit-exact (float32 rounding, a parameter that crossed a binade,
//     a soft-threshold to zero), the old value is logged in the Guard: typically 0.1-3% of the
//     elements, 8 bytes each;
//   - every gradient element is checked for NaN/Inf in registers as it is used.
// undo() then restores parameters: guess() from memory (the same function on the same bits, so
// the same result), then the logged values on top; then the in-place state the same way, from
// the restored parameters.
#pragma once
#include <cmath>
#include <cstring>
#include <type_traits>

#include "kernels/rule.h"

namespace fastoptim {
namespace FO_TARGET {

// Bits of the valid lanes of a vector of N lanes.
template <int N>
inline uint32_t lane_bits(Full) { return N >= 32 ? ~0u : (1u << N) - 1u; }
template <int N>
inline uint32_t lane_bits(Tail t) { return (1u << t.count) - 1u; }

// Bits [i, i + N) of a bit array (i a multiple of N), in the low bits of m.
template <int N>
inline void put_bits(uint8_t* b, int64_t i, uint32_t m) {
  if constexpr (N >= 8) {
    std::memcpy(b + i / 8, &m, N / 8);  // little-endian: lane 0 is bit i
  } else {
    const uint32_t mask = ((1u << N) - 1u) << (i % 8);
    b[i / 8] = static_cast<uint8_t>((b[i / 8] & ~mask) | ((m << (i % 8)) & mask));
  }
}
template <int N>
inline uint32_t get_bits(const uint8_t* b, int64_t i) {
  uint32_t m = 0;
  if constexpr (N >= 8) {
    std::memcpy(&m, b + i / 8, N / 8);
  } else {
    m = (b[i / 8] >> (i % 8)) & ((1u << N) - 1u);
  }
  return m;
}

// Whether the rule's vector constants C can restore state updated in place: restored_slots(),
// the slots it can, and estimate(k, now, g), slot k's old value estimated from its new value
// and the prepared gradient (see the top of this file).
template <class C, class = void>
struct CanRestore : std::false_type {};
template <class C>
struct CanRestore<C, std::void_t<decltype(&C::restored_slots)>> : std::true_type {};
template <class C>
uint32_t restored_slots(const C& c) {
  if constexpr (CanRestore<C>::value) return c.restored_slots();
  else return 0;
}

// Propagate (torch's behaviour): state and parameters are updated in place.
struct InPlace {
  template <class V, class L>
  void state(const Ptrs& q, int k, int64_t i, L lanes, V x) { x.store(q.s[k] + i, lanes); }
  // For a state slot the rule can restore: `old` is its value before the step, estimate()
  // the rule's estimate of it from x (see Guarded).
  template <class V, class L, class E>
  void state(const Ptrs& q, int k, int64_t i, L lanes, V x, V /*old*/, E&& /*estimate*/) {
    x.store(q.s[k] + i, lanes);
  }
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
  // A slot in the rule's restored_slots(): x is its new value, old the one before the step,
  // estimate() the rule's estimate of old from x.
  template <class L, class E>
  void state(const Ptrs& q, int k, int64_t i, L lanes, V x, V old, E&& estimate) {
    if (!gd_.in_place) return state(q, k, i, lanes, x);
    x.store(q.s[k] + i, lanes);
    const uint32_t valid = lane_bits<V::N>(lanes);
    const uint32_t low = V::low_bits(old) & (valid | valid << V::N);
    put_bits<2 * V::N>(gd_.bits[k], 2 * i, low);
    // with_low_bits(estimate, low) == old exactly when old is within -2..+1 of the estimate.
    const uint32_t miss = ~V::within(old, estimate()) & valid;
    if (miss) gd_.state_count += log(miss, i, old, 1u + k);
  }

  // p0, g0: the parameter and gradient as stored before the step; p: the new parameter;
  // guess(): the rule's recomputation of p0 from the values that survive the step.
  template <class L, class Guess>
  void param(const Ptrs& q, int64_t i, L lanes, V p0, V g0, V p, Guess&& guess) {
    p.store(q.p + i, lanes);
    acc_ = acc_ + (g0 - g0);  // +0 for finite g0, NaN for NaN or Inf; NaN sticks
    log(V::differ(guess(), p0) & lane_bits<V::N>(lanes), i, p0, 0);
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
  // Logs the lanes of `old` set in `miss` (elements i + lane) under `tag`; returns how many.
  int log(uint32_t miss, int64_t i, V old, uint32_t tag) {
    if (!miss) return 0;
    float v[V::N];
    old.store(v, Full{});
    int n = 0;
    for (; miss; miss &= miss - 1, ++n) {
      const int k = __builtin_ctz(miss);
      gd_.offset[gd_.count] = static_cast<uint32_t>(i + k) | (tag << kLogTagShift);
      gd_.value[gd_.count++] = v[k];
    }
    return n;
  }

  Guard& gd_;
  V acc_;
};

// Undoes a guarded step over n elements, as the Guard `gd` the step ran with describes, in two
// phases; the caller writes the logged values of each phase after it.
//  0: the parameters, from c.guess(p, g0, old, now): the new state is in q.s[k] for the slots
//     updated in place (whose old state is not available yet: guess() of a rule that restores
//     state reads none), in q.d[k] for the others, whose old state is in q.s[k].
//  1: the state updated in place, from c.estimate() with the parameters as they were and the
//     low bits the step kept.
template <class V, class C>
void undo(const C& c, const Ptrs& q, int64_t n, const Guard& gd, int phase) {
  const uint32_t in_place = gd.in_place ? restored_slots(c) : 0u;
  if (phase == 0) {
    for_each_vector<V::N>(n, [&](int64_t i, auto lanes) {
      V old[kMaxSlots], now[kMaxSlots];
      for (int k = 0; k < kMaxSlots; ++k) {
        const bool here = in_place >> k & 1u;
        old[k] = q.s[k] && !here ? V::load(q.s[k] + i, lanes) : V::set1(0.0f);
        now[k] = here ? V::load(q.s[k] + i, lanes)
                      : q.d[k] ? V::load(q.d[k] + i, lanes) : V::set1(0.0f);
      }
      c.guess(V::load(q.p + i, lanes), V::load(q.g + i, lanes), old, now).store(q.p + i, lanes);
    });
    return;
  }
  if constexpr (CanRestore<C>::value) {
    if (!in_place) return;
    for_each_vector<V::N>(n, [&](int64_t i, auto lanes) {
      const V g = c.prep.grad(V::load(q.p + i, lanes), V::load(q.g + i, lanes));
      for (int k = 0; k < kMaxSlots; ++k)
        if (in_place >> k & 1u)
          V::with_low_bits(c.estimate(k, V::load(q.s[k] + i, lanes), g),
                           get_bits<2 * V::N>(gd.bits[k], 2 * i))
              .store(q.s[k] + i, lanes);
    });
  }
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
void run_undo(const Args& a, Ptrs q, int64_t n, const Guard& gd, int phase) {
  undo<V>(C(a), q, n, gd, phase);
}

}  // namespace FO_TARGET
}  // namespace fastoptim

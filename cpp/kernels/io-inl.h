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
//     (Guard::bits, 2 bits per element, streamed out a vector at a time: low_bits_group()),
//     pick it among the four floats around the estimate (V::with_low_bits). Where the old value
//     is not among them (state that grew by binades, as in the first steps), it is logged;
//   - other state goes to the second buffer d[k] (with streaming stores when large), so the
//     old state in s[k] is untouched: the same memory traffic as an in-place update, though
//     streaming stores cost more than write-back on some machines (bench/store_pattern.cc);
//   - the parameter is updated in place, and the rule's guess() recomputes the old parameter
//     from what survives (the new parameter, the gradient, the old and the new state). Where
//     that recomputation is not bit-exact (float32 rounding, a parameter that crossed a binade,
//     a soft-threshold to zero), the old value is logged in the Guard: typically 0.1-3% of the
//     elements, 8 bytes each;
//   - every gradient element is checked for NaN/Inf in registers as it is used, in the same
//     rarely taken branch as the parameter's guess (differ_or_nonfinite()).
// Kernels run their loop through specialize(), so that each combination of the flags they test
// per element (and of Guarded's mode) gets a copy of the loop that tests none.
// undo() then restores parameters: guess() from memory (the same function on the same bits, so
// the same result), then the logged values on top; then the in-place state the same way, from
// the restored parameters.
#pragma once
#include <tuple>
#include <type_traits>
#include <utility>

#include "kernels/rule.h"

namespace fastoptim {
namespace FO_TARGET {

// Forces a function inline (the kernel's loop into each of specialize()'s copies, its tests into
// the loop).
#define FO_INLINE __attribute__((always_inline))

// Bits of the valid lanes of a vector of N lanes.
template <int N>
inline uint32_t lane_bits(Full) { return N >= 32 ? ~0u : (1u << N) - 1u; }
template <int N>
inline uint32_t lane_bits(Tail t) { return (1u << t.count) - 1u; }

// The guarded step's tests per vector. A vector type with mask registers (AVX-512) has its own
// (V::differ_or_nonfinite, V::any_outside), which keep the masks out of general registers; the
// others compose them from lane bit masks.
template <class V, class = void>
struct HasMaskTests : std::false_type {};
template <class V>
struct HasMaskTests<V, std::void_t<decltype(&V::any_outside)>> : std::true_type {};
// Whether, among the lanes set in `valid`, a and b differ (bit patterns) or g is NaN or infinite.
template <class V>
FO_INLINE inline bool differ_or_nonfinite(V a, V b, V g, uint32_t valid) {
  if constexpr (HasMaskTests<V>::value) return V::differ_or_nonfinite(a, b, g, valid);
  else return ((V::differ(a, b) | V::nonfinite(g)) & valid) != 0;
}
// Whether a lane set in `valid` holds in `a` a value not within -2..+1 bit patterns of `c`'s.
template <class V>
FO_INLINE inline bool any_outside(V a, V c, uint32_t valid) {
  if constexpr (HasMaskTests<V>::value) return V::any_outside(a, c, valid);
  else return (~V::within(a, c) & valid) != 0;
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
  // See specialize(): one mode only, nothing to finish.
  uint32_t mode() const { return 0; }
  void fix_mode(uint32_t) {}
  void finish(int64_t /*n*/) {}
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

// In-place state's low bits: for each group of kLowBitsGroup vectors of a slot, one vector whose
// lane j holds, two bits each from the top, the low bits of lane j of the group's vectors in
// order (V::push_low_bits; the last group of a call shifted up as if full). Groups follow one
// another from the call's first element: 2 bits per element, N * 4 bytes (a whole vector,
// aligned if the call's bits are) per 16 N elements.
constexpr int kLowBitsGroup = 16;
template <class V>
float* low_bits_group(uint8_t* bits, int64_t i) {
  return reinterpret_cast<float*>(bits) + i / (kLowBitsGroup * V::N) * V::N;
}
// The low bits of the vector of elements at i, as 0..3 per lane.
template <class V>
V low_bits_of(uint8_t* bits, int64_t i) {
  const V acc = V::load(low_bits_group<V>(bits, i), Full{});
  return V::low_bits_at(acc, kLowBitsGroup - 1 - static_cast<int>(i / V::N % kLowBitsGroup));
}

// Guarded: see the top of this file.
template <class V>
class Guarded {
 public:
  explicit Guarded(Guard& gd)
      : gd_(&gd), in_place_(gd.in_place), stream_(gd.stream),
        bits_{gd.bits[0], gd.bits[1], gd.bits[2]} {}

  // See specialize(): the slots of restorable state updated in place (Guard::in_place).
  uint32_t mode() const { return in_place_; }
  void fix_mode(uint32_t in_place) { in_place_ = in_place; }
  // After a kernel over n elements: the last, partial group of low bits, shifted as a whole
  // group's would be.
  void finish(int64_t n) {
    const int64_t vectors = (n + V::N - 1) / V::N;
    const int r = static_cast<int>(vectors % kLowBitsGroup);
    if (!in_place_ || r == 0) return;
    for (int k = 0; k < kMaxSlots; ++k) {
      if (!(in_place_ >> k & 1u) || !bits_[k]) continue;
      V acc = k == 0 ? low0_ : k == 1 ? low1_ : low2_;
      for (int j = r; j < kLowBitsGroup; ++j) acc = V::push_low_bits(acc, V::set1(0.0f));
      acc.store(group_bits(k, (vectors - 1) * V::N), Full{});
    }
  }

  template <class L>
  FO_INLINE void state(const Ptrs& q, int k, int64_t i, L lanes, V x) {
    store(q.d[k] + i, lanes, x);
  }
  // A slot in the rule's restored_slots(): x is its new value, old the one before the step,
  // estimate() the rule's estimate of old from x.
  template <class L, class E>
  FO_INLINE void state(const Ptrs& q, int k, int64_t i, L lanes, V x, V old, E&& estimate) {
    if (!(in_place_ >> k & 1u)) return state(q, k, i, lanes, x);
    x.store(q.s[k] + i, lanes);
    const uint32_t valid = lane_bits<V::N>(lanes);
    // The old value's two low bits join the slot's accumulator (V::push_low_bits); every 16th
    // vector, or at finish(), the accumulator goes out whole: one vector per 16 (kLowBitsGroup)
    // vectors of state. A whole line (AVX-512) is streamed, so it is never read for ownership
    // (4-byte stores of the same bits cost about 3% of a guarded Adam step at 2^26 elements,
    // 1 thread, this VM); a half line (AVX2) is stored plainly (streamed, it cost 4% more).
    const V acc = push_low_bits(k, old);
    if ((i / V::N) % kLowBitsGroup == kLowBitsGroup - 1) {
      if constexpr (V::N * 4 >= 64) acc.stream(group_bits(k, i));
      else acc.store(group_bits(k, i), Full{});
    }
    // with_low_bits(estimate, low) == old exactly when old is within -2..+1 of the estimate.
    const V e = estimate();
    if (any_outside(old, e, valid)) [[unlikely]]
      gd_->state_count[k] += log(*gd_, ~V::within(old, e) & valid, i, old, 1u + k);
  }

  // p0, g0: the parameter and gradient as stored before the step; p: the new parameter;
  // guess(): the rule's recomputation of p0 from the values that survive the step.
  // Lanes whose guess misses, or whose gradient is NaN or infinite, take one rarely taken
  // branch: no loop-carried accumulator, nothing stored but the parameter.
  template <class L, class Guess>
  FO_INLINE void param(const Ptrs& q, int64_t i, L lanes, V p0, V g0, V p, Guess&& guess) {
    p.store(q.p + i, lanes);
    const uint32_t valid = lane_bits<V::N>(lanes);
    const V p0_guess = guess();
    if (differ_or_nonfinite(p0_guess, p0, g0, valid)) [[unlikely]] {
      if (V::nonfinite(g0) & valid) gd_->bad = true;
      // A lane logged for its gradient alone restores p0 all the same.
      log(*gd_, (V::differ(p0_guess, p0) | V::nonfinite(g0)) & valid, i, p0, 0);
    }
  }

 private:
  FO_INLINE void store(float* d, Full, V x) {
    if (stream_)
      x.stream(d);
    else
      x.store(d, Full{});
  }
  FO_INLINE void store(float* d, Tail t, V x) { x.store(d, t); }
  // Logs the lanes of `old` set in `miss` (elements i + lane) under `tag`; returns how many.
  // Out of line, so that the kernel's loop keeps its registers.
  [[gnu::noinline, gnu::cold]] static int log(Guard& gd, uint32_t miss, int64_t i, V old,
                                              uint32_t tag) {
    float v[V::N];
    old.store(v, Full{});
    int n = 0;
    for (; miss; miss &= miss - 1, ++n) {
      const int k = __builtin_ctz(miss);
      gd.offset[gd.count] = static_cast<uint32_t>(i + k) | (tag << kLogTagShift);
      gd.value[gd.count++] = v[k];
    }
    return n;
  }

  // The kernel takes its Guarded by value: copies of the Guard's flags and pointers that no
  // store in the loop can alias, so they stay in registers. Counts go to the Guard itself.
  Guard* gd_;
  uint32_t in_place_;
  bool stream_;

  uint8_t* bits_[kMaxSlots];
  // One accumulator of low bits per slot, as separate members (not an array, and never
  // referenced) so that they can stay in registers.
  V low0_ = V::set1(0.0f), low1_ = V::set1(0.0f), low2_ = V::set1(0.0f);
  FO_INLINE V push_low_bits(int k, V old) {
    if (k == 0) return low0_ = V::push_low_bits(low0_, old);
    if (k == 1) return low1_ = V::push_low_bits(low1_, old);
    return low2_ = V::push_low_bits(low2_, old);
  }
  // Where the group of low bits of slot k holding element i goes (see low_bits_group()).
  float* group_bits(int k, int64_t i) const { return low_bits_group<V>(bits_[k], i); }
};

// A flag of the kernel arguments a for specialize() (an int32 field used as a boolean): a member
// of a (Flag<&Args::amsgrad>) or of its gradient preparation (Flag<&GradPrep::coupled>), named
// by the type, so that which field each copy of the loop fixes is known at compile time.
template <auto kMember>
struct Flag {};
template <class A, auto kMember>
FO_INLINE inline auto& flag(A& a, Flag<kMember>) {
  if constexpr (std::is_same_v<decltype(kMember), int32_t GradPrep::*>) return a.prep.*kMember;
  else return a.*kMember;
}
template <class Values>
struct Specialized;
template <int32_t... kValues>
struct Specialized<std::integer_sequence<int32_t, kValues...>> {
  template <uint32_t kMode, class F, class A, class Io, class... Flags>
  [[gnu::noinline, gnu::flatten]] static void run(int64_t n, F f, A a, Io io, Flags... flags) {
    ((flag(a, flags) = kValues), ...);
    io.fix_mode(kMode);
    f(a, io);
    io.finish(n);
  }
};
// S::run<io.mode()> among the subsets kMode of kModes, from kModes down (then 0).
template <uint32_t kModes, uint32_t kMode, class S, class F, class A, class Io, class... Flags>
FO_INLINE inline void run_mode(int64_t n, const F& f, const A& a, const Io& io,
                               Flags... flags) {
  if constexpr (kMode == 0) {
    S::template run<0u>(n, f, a, io, flags...);
  } else {
    if (io.mode() == kMode)
      S::template run<kMode>(n, f, a, io, flags...);
    else
      run_mode<kModes, (kMode - 1) & kModes, S>(n, f, a, io, flags...);
  }
}
template <uint32_t kModes, int32_t... kValues, class F, class A, class Io, class... Flags>
FO_INLINE inline void specialize_from(std::integer_sequence<int32_t, kValues...>, int64_t n,
                                      const F& f, const A& a, const Io& io, Flags... flags) {
  constexpr size_t k = sizeof...(kValues);
  if constexpr (k == sizeof...(Flags)) {
    // InPlace has one mode.
    constexpr uint32_t kAll = std::is_same_v<Io, InPlace> ? 0u : kModes;
    run_mode<kAll, kAll, Specialized<std::integer_sequence<int32_t, kValues...>>>(n, f, a, io,
                                                                                flags...);
  } else {
    if (flag(a, std::get<k>(std::tuple<Flags...>(flags...))))
      specialize_from<kModes>(std::integer_sequence<int32_t, kValues..., 1>{}, n, f, a, io,
                              flags...);
    else
      specialize_from<kModes>(std::integer_sequence<int32_t, kValues..., 0>{}, n, f, a, io,
                              flags...);
  }
}
// Calls f(a, io) with the flags of the kernel arguments a and io's mode (Guarded: the slots of
// restorable state updated in place, any subset of kModes, the rule's kRestoredSlots) known at
// compile time: one function per combination (Specialized::run), which stores the values into
// its own copies of a and io, so that its copy of f's loop tests none of them per vector, as
// loop unswitching would do if compilers did it for loops this large. f (a lambda with its
// captures by value) is copied too, so that nothing the loop reads may alias what it stores.
// Then io.finish(n): a kernel whose rule restores state in place (kernels/rule.h,
// kRestoredSlots) must run its loop through specialize(). A guarded step that tested its flags
// per vector cost 1.5 points more over propagate (SGD, Adam; 2^26 elements, 1 thread, this VM).
template <uint32_t kModes, class F, class A, class Io, class... Flags>
FO_INLINE inline void specialize(int64_t n, const A& a, const Io& io, const F& f,
                                 Flags... flags) {
  specialize_from<kModes>(std::integer_sequence<int32_t>{}, n, f, a, io, flags...);
}

// Undoes a guarded step over n elements, as the Guard `gd` the step ran with describes, in two
// phases; the caller writes the logged values of each phase after it.
//  0: the parameters, from c.guess(p, g0, old, now): the new state is in q.s[k] for the slots
//     updated in place (whose old state is not available yet: guess() of a rule that restores
//     state reads none), in q.d[k] for the others, whose old state is in q.s[k].
//  1: the state updated in place, from c.estimate() with the parameters as they were and the
//     low bits the step kept.
template <class V, class C>
void undo(const C& c, const Ptrs& q, int64_t n, const Guard& gd, int phase) {
  const uint32_t in_place = gd.in_place & restored_slots(c);
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
                           low_bits_of<V>(gd.bits[k], i))
              .store(q.s[k] + i, lanes);
    });
  }
}

// The three entry points of a rule, for the kernel table: in place, guarded, undo. K is the
// rule's kernel template, C its vector constants (with guess()).
template <class V, class Args, void (*K)(Args, Ptrs, int64_t, InPlace)>
void run_in_place(const Args& a, Ptrs q, int64_t n) {
  InPlace io;
  K(a, q, n, io);
}
template <class V, class Args, void (*K)(Args, Ptrs, int64_t, Guarded<V>)>
void run_guarded(const Args& a, Ptrs q, int64_t n, Guard& gd) {
  K(a, q, n, Guarded<V>(gd));
}
template <class V, class Args, class C>
void run_undo(const Args& a, Ptrs q, int64_t n, const Guard& gd, int phase) {
  undo<V>(C(a), q, n, gd, phase);
}

}  // namespace FO_TARGET
}  // namespace fastoptim

// The step engine of one optimizer: its parameters, state arrays and step counters, and the
// generic step of a rule over all of them.
//
// Python builds one StepEngine per optimizer (python/fastoptim/optimizer.py). It keeps pointers to
// the parameters, the state arrays and the step counters, and reads the hyperparameters from the
// live param_groups dicts at every step, so `opt.param_groups[0]["lr"] = x` takes effect at the
// next step. A step validates everything first (grads, hyperparameters, state), decides the
// non-finite policy by reading alone, then advances the step counters and runs one parallel
// region over all tensors with the GIL released.
#pragma once
#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "arguments.h"
#include "dispatch.h"
#include "parallel.h"
#include "vector_ops.h"

namespace fastoptim {

// Raised by step() when a param group's options now need a state slot the engine was built
// without (e.g. amsgrad switched on mid-run); Python rebuilds the engine and steps again.
struct StalePlan : std::runtime_error {
  StalePlan() : std::runtime_error("optimizer state layout changed; rebuild the plan") {}
};

// torch's clip_grad_norm_ coefficient: max_norm / (norm + 1e-6), at most 1, in float32.
inline double clip_coefficient(double max_norm, double total_norm) {
  const float coef = static_cast<float>(max_norm) / (static_cast<float>(total_norm) + 1e-6f);
  return coef < 1.0f ? coef : (coef != coef ? coef : 1.0f);
}

// Whether a rule's Args carries a GradPrep (the rules that read a gradient).
template <class A, class = void>
struct has_grad_prep : std::false_type {};
template <class A>
struct has_grad_prep<A, std::void_t<decltype(A::prep)>> : std::true_type {};

template <class Rule>
class StepEngine {
 public:
  using Hyper = typename Rule::Hyper;
  using Args = typename Rule::Args;

  // `states` holds one list of arrays per slot (None for slots not kept): float32, bfloat16
  // state's bits as uint16, or int8 state's codes as uint8 with their block scales in
  // `scales` (one list of float32 arrays per slot); `steps` the int64 step count of each
  // parameter, `scalars` one float64 array per per-tensor scalar, and `flat_grads` the
  // gradients of a FlatParams store (None: step() takes them). `state_format`: StateFormat's
  // value; `seed` keys stochastic rounding's random bits. `param_format`: ParamFormat's value;
  // 16-bit parameters come as their bits (uint16), with `masters` (the master weight's low bits
  // as uint16 or a float32 copy, per ParamFormat) unless they keep none.
  StepEngine(py::list groups, py::list params, std::vector<int> group_of, py::list states,
             py::array steps, py::object flat_grads, py::list scalars, int state_format,
             uint32_t seed, int param_format, py::object scales, py::object masters)
      : groups_(groups), seed_(seed) {
    if (state_format < 0 || state_format >= kStateFormats || param_format < 0 ||
        param_format >= kParamFormats)
      inconsistent();
    format_ = static_cast<StateFormat>(state_format);
    param_format_ = static_cast<ParamFormat>(param_format);
    const size_t n = params.size();
    if (group_of.size() != n || states.size() != Rule::kSlots ||
        scalars.size() != static_cast<size_t>(Rule::kScalars))
      inconsistent();
    steps_ = counter_array<int64_t>(steps, n);
    for (size_t k = 0; k < scalars.size(); ++k) scalars_[k] = counter_array<double>(scalars[k], n);
    std::vector<py::array> checked = checked_params(params, param_bytes(param_format_));
    params_ = checked;
    tensors_.resize(n);
    int64_t at = 0;
    for (size_t i = 0; i < n; ++i) {
      Tensor& t = tensors_[i];
      t.ptrs.p = checked[i].mutable_data();
      t.ptrs.at = at;
      t.ptrs.state = format_;
      t.ptrs.param = param_format_;
      t.n = checked[i].size();
      at += t.n;
      t.group = group_of[i];
      if (t.group < 0 || static_cast<size_t>(t.group) >= groups.size()) inconsistent();
    }
    const bool int8 = format_ == StateFormat::kInt8;
    if (int8 != !scales.is_none()) inconsistent();
    for (int k = 0; k < Rule::kSlots; ++k) {
      if (states[k].is_none()) continue;
      py::list arrays = states[k];
      if (arrays.size() != n) inconsistent();
      for (size_t i = 0; i < n; ++i) {
        const std::string what = std::string(Rule::kSlotNames[k]) + "[" + std::to_string(i) + "]";
        py::array a = checked_state_array(arrays[i], what, state_bytes(format_));
        if (!same_shape(a, checked[i])) inconsistent();
        tensors_[i].ptrs.s[k] = a.mutable_data();
        tensors_[i].has_slot[k] = true;
        keep_.push_back(a);
        if (int8) {
          py::array sc = checked_inplace_array(py::list(py::list(scales)[k])[i], what);
          if (sc.size() != (tensors_[i].n + kBlock - 1) / kBlock) inconsistent();
          tensors_[i].ptrs.scale[k] = fmut(sc);
          keep_.push_back(sc);
        }
      }
    }
    if (master_bytes(param_format_) != 0) {
      py::list m = masters;
      if (m.size() != n) inconsistent();
      for (size_t i = 0; i < n; ++i) {
        py::array a = checked_state_array(m[i], "master[" + std::to_string(i) + "]",
                                          master_bytes(param_format_));
        if (!same_shape(a, checked[i])) inconsistent();
        tensors_[i].ptrs.master = a.mutable_data();
        keep_.push_back(a);
      }
    } else if (!masters.is_none()) {
      inconsistent();
    }
    if (!flat_grads.is_none()) {
      py::list fg = flat_grads;
      if (fg.size() != n) inconsistent();
      for (size_t i = 0; i < n; ++i) {
        py::array g = checked_inplace_array(fg[i], "grads[" + std::to_string(i) + "]");
        if (!same_shape(g, checked[i])) inconsistent();
        flat_grads_.push_back(fdata(g));
        keep_.push_back(g);
      }
    }
  }

  // Parses and validates one param group's hyperparameters (used at construction too).
  static Hyper read(py::handle group, int index) {
    GroupReader r(group, index);
    return Rule::read(r);
  }

  void step(py::object grads) {
    bool expected = false;
    if (!busy_.compare_exchange_strong(expected, true))
      throw std::runtime_error(std::string(Rule::kName) +
                               ".step() is already running in another thread");
    // On return, with the GIL held: the gradients read are let go, and the engine is free.
    struct Release {
      std::atomic<bool>& b;
      std::vector<py::object>& held;
      ~Release() {
        held.clear();
        b.store(false);
      }
    } release{busy_, held_};

    // 1. Gradients: one per parameter (None skips it, as a missing .grad in torch).
    grad_ptrs_.assign(tensors_.size(), nullptr);
    grad_format_ = GradFormat::kFloat32;
    if (grads.is_none()) {
      if (flat_grads_.empty() && !tensors_.empty())
        throw py::type_error(std::string(Rule::kName) +
                             ".step() needs grads (one array per parameter) unless the parameters "
                             "live in a fastoptim.FlatParams store");
      std::copy(flat_grads_.begin(), flat_grads_.end(), grad_ptrs_.begin());
    } else {
      grad_format_ = read_grads(grads, Rule::kName, params_, grad_ptrs_, held_);
    }

    // 2. Hyperparameters of every group, read now so that changes since the last step count.
    hyper_.clear();
    for (size_t j = 0; j < groups_.size(); ++j)
      hyper_.push_back(read(groups_[j], static_cast<int>(j)));

    // 3. Every state array the options need exists (else Python rebuilds the engine).
    for (size_t i = 0; i < tensors_.size(); ++i)
      for (int k = 0; k < Rule::kSlots; ++k)
        if (grad_ptrs_[i] && Rule::needs_slot(hyper_[tensors_[i].group], k) &&
            !tensors_[i].has_slot[k])
          throw StalePlan{};

    // 4. With max_grad_norm: one reading pass for the global norm of this step's gradients;
    // the kernel then scales each gradient as it loads it.
    std::vector<Run> runs;
    std::vector<size_t> run_tensor;
    for (size_t i = 0; i < tensors_.size(); ++i)
      if (grad_ptrs_[i]) {
        runs.push_back(Run{grad_ptrs_[i], tensors_[i].n, grad_format_});
        run_tensor.push_back(i);
      }
    double grad_scale = 1.0;
    if (max_grad_norm_ >= 0) {
      {
        py::gil_scoped_release nogil;
        last_grad_norm_ = static_cast<float>(norm(runs, 2.0));
      }
      grad_scale = clip_coefficient(max_grad_norm_, last_grad_norm_);
    }

    // 5. nonfinite="skip"/"raise": a step with a NaN or Inf gradient changes nothing, so it is
    // decided before anything is written: by the clipping norm if there is one (finite proves
    // every gradient finite), else by one read-only scan of the gradients.
    last_check_ = Check::kNone;
    if (nonfinite_ != Nonfinite::kPropagate) {
      if (max_grad_norm_ >= 0) {
        last_check_ = Check::kNorm;
        if (!std::isfinite(last_grad_norm_)) return reject(runs, run_tensor);
      } else {
        last_check_ = Check::kScan;
        int64_t bad;
        {
          py::gil_scoped_release nogil;
          bad = first_nonfinite(runs);
        }
        if (bad >= 0) return reject(runs, run_tensor, bad);
      }
    }

    // 6. Nothing can fail from here on. Kernel arguments per tensor (scalars in double, rounded
    // to float32; per-tensor scalar state advanced), merged into spans; step counts committed.
    spans_.clear();
    args_.clear();
    int64_t total = 0;
    for (size_t i = 0; i < tensors_.size(); ++i) {
      const Tensor& t = tensors_[i];
      if (!grad_ptrs_[i]) continue;
      std::array<double, Rule::kScalars> scalars;
      for (int k = 0; k < Rule::kScalars; ++k) scalars[k] = scalars_[k][i];
      Args a = Rule::args(hyper_[t.group], ++steps_[i], scalars.data());
      if constexpr (has_grad_prep<Args>::value) a.prep.grad_scale *= static_cast<float>(grad_scale);
      for (int k = 0; k < Rule::kScalars; ++k) scalars_[k][i] = scalars[k];
      if (args_.empty() || std::memcmp(&args_.back(), &a, sizeof(Args)) != 0) args_.push_back(a);
      if (t.n == 0) continue;
      Ptrs q = t.ptrs;
      q.g = grad_ptrs_[i];
      q.grad = grad_format_;
      // Only stochastic rounding reads the key: 0 lets tensors at other steps merge.
      if (format_ == StateFormat::kBf16Stochastic ||
          param_format_ == ParamFormat::kBf16Stochastic)
        q.key = mix32(mix32(static_cast<uint32_t>(steps_[i])) ^ seed_);
      const int32_t ai = static_cast<int32_t>(args_.size() - 1);
      if (!spans_.empty() && spans_.back().args == ai && adjacent(spans_.back(), q)) {
        spans_.back().n += t.n;
      } else {
        // int8 state: every span starts on a multiple of kBlock, so that the threads' pieces
        // (split on multiples of kBlock) start on a block of each tensor.
        if (format_ == StateFormat::kInt8) total = (total + kBlock - 1) / kBlock * kBlock;
        spans_.push_back(Span{q, total, t.n, ai});
      }
      total += t.n;
    }
    py::gil_scoped_release nogil;
    run(active_kernels().template get<Rule>(format_, grad_format_, param_format_), total);
  }

  size_t size() const { return tensors_.size(); }

  // Clip the global L2 norm of each step's gradients to this (None: no clipping).
  void set_max_grad_norm(py::object v) {
    if (v.is_none()) {
      max_grad_norm_ = -1.0;
      return;
    }
    if (!has_grad_prep<Args>::value)
      throw py::type_error(std::string(Rule::kName) + " reads no gradient to clip");
    py::dict d;
    d["max_grad_norm"] = v;
    max_grad_norm_ = GroupReader(d, 0).real("max_grad_norm", Bound::kNonNegative);
  }
  py::object max_grad_norm() const {
    return max_grad_norm_ < 0 ? py::object(py::none()) : py::object(py::float_(max_grad_norm_));
  }
  // The global gradient norm of the last step (before clipping), if clipping is on.
  double last_grad_norm() const { return last_grad_norm_; }

  // What a step does with NaN or Inf gradients: "propagate" (as torch), "skip" or "raise".
  void set_nonfinite(const std::string& mode) {
    if (mode == "propagate") nonfinite_ = Nonfinite::kPropagate;
    else if (mode == "skip") nonfinite_ = Nonfinite::kSkip;
    else if (mode == "raise") nonfinite_ = Nonfinite::kRaise;
    else
      throw py::value_error("Invalid nonfinite: '" + mode +
                            "' (must be 'propagate', 'skip' or 'raise')");
  }
  std::string nonfinite() const {
    return nonfinite_ == Nonfinite::kSkip    ? "skip"
           : nonfinite_ == Nonfinite::kRaise ? "raise"
                                             : "propagate";
  }
  int64_t skipped_steps() const { return skipped_steps_; }
  void set_skipped_steps(int64_t n) { skipped_steps_ = n; }
  // What decided the last step's non-finite policy: None (nonfinite="propagate"), "norm"
  // (max_grad_norm's) or "scan" (a read-only pass over the gradients).
  py::object last_check() const {
    if (last_check_ == Check::kNone) return py::none();
    return py::str(last_check_ == Check::kNorm ? "norm" : "scan");
  }

 private:
  struct Tensor {
    Ptrs ptrs{};  // its memory; a step adds the gradient and the rounding key
    bool has_slot[kMaxSlots] = {false, false, false};
    int64_t n = 0;
    int group = 0;
  };
  // One contiguous run of elements that share kernel Args: a tensor, or several tensors
  // adjacent in every buffer (the flat store) merged into one.
  struct Span {
    Ptrs ptrs;
    int64_t start, n;  // global index of the first element; number of elements
    int32_t args;      // index into the step's Args table
  };

  [[noreturn]] static void inconsistent() { throw py::value_error("inconsistent optimizer plan"); }

  // A writable 1-D contiguous array of n values of type T, kept alive with the engine.
  template <class T>
  T* counter_array(py::handle o, size_t n) {
    if (!py::isinstance<py::array_t<T>>(o)) inconsistent();
    py::array a = py::reinterpret_borrow<py::array>(o);
    if (a.ndim() != 1 || static_cast<size_t>(a.shape(0)) != n || !a.writeable() ||
        !contiguous_aligned(a) || !a.dtype().equal(py::dtype::of<T>()))
      inconsistent();
    keep_.push_back(a);
    return static_cast<T*>(a.mutable_data());
  }

  // Whether q continues span s exactly in every buffer (and in element index and rounding
  // key), so both run as one range.
  static bool adjacent(const Span& s, const Ptrs& q) {
    if (q.state == StateFormat::kInt8 && s.n % kBlock != 0) return false;
    const Ptrs end = s.ptrs.offset(s.n);
    if (q.p != end.p || q.master != end.master || q.g != end.g || q.at != end.at ||
        q.key != end.key)
      return false;
    for (int k = 0; k < kMaxSlots; ++k)
      if (q.s[k] != end.s[k] || q.scale[k] != end.scale[k]) return false;
    return true;
  }

  // Ends a step with a NaN or Inf gradient, nothing changed: counts it ("skip") or raises
  // FloatingPointError naming the first such gradient ("raise"; `bad` is its run if known).
  void reject(const std::vector<Run>& runs, const std::vector<size_t>& run_tensor,
              int64_t bad = -1) {
    if (nonfinite_ == Nonfinite::kSkip) {
      ++skipped_steps_;
      return;
    }
    if (bad < 0) {
      py::gil_scoped_release nogil;
      bad = first_nonfinite(runs);
    }
    const std::string msg = std::string(Rule::kName) + ".step(): grads[" +
                            std::to_string(bad >= 0 ? run_tensor[bad] : 0) +
                            "] contains NaN or Inf (nonfinite=\"raise\"); nothing was changed";
    PyErr_SetString(PyExc_FloatingPointError, msg.c_str());
    throw py::error_already_set();
  }

  // Runs the kernel over [0, total) of the concatenated spans, split across threads.
  void run(KernelFn<Rule> kernel, int64_t total) const {
    const int64_t align = format_ == StateFormat::kInt8 ? kBlock : kAlign;
    const auto piece = [&](int64_t begin, int64_t end) {
      // From the first span that ends after `begin`.
      const Span* s = std::upper_bound(
          spans_.data(), spans_.data() + spans_.size(), begin,
          [](int64_t b, const Span& x) { return b < x.start + x.n; });
      for (; s < spans_.data() + spans_.size() && s->start < end; ++s) {
        const int64_t lo = std::max(begin, s->start) - s->start;
        const int64_t hi = std::min(end, s->start + s->n) - s->start;
        kernel(args_[s->args], s->ptrs.offset(lo), hi - lo);
      }
    };
    parallel_ranges(total, piece, /*weight=*/1, align);
  }

  py::list groups_;
  int64_t* steps_ = nullptr;                        // per-tensor step counts (Python's array)
  std::array<double*, Rule::kScalars> scalars_{};  // per-tensor scalar state (Python's arrays)
  std::vector<Tensor> tensors_;
  std::vector<py::array> params_;  // the parameters, kept alive with the engine
  std::vector<py::object> keep_;  // state arrays and flat grads, kept alive with the engine
  std::vector<const float*> flat_grads_;
  // Per-step scratch, reused to avoid allocation on the hot path.
  std::vector<const void*> grad_ptrs_;
  std::vector<py::object> held_;  // the step's gradient arrays (and copies), held until it ends
  GradFormat grad_format_ = GradFormat::kFloat32;  // this step's (one for all its grads)
  std::vector<Hyper> hyper_;
  std::vector<Args> args_;
  std::vector<Span> spans_;
  std::atomic<bool> busy_{false};
  double max_grad_norm_ = -1.0;  // < 0: off
  double last_grad_norm_ = std::nan("");
  enum class Nonfinite { kPropagate, kSkip, kRaise } nonfinite_ = Nonfinite::kPropagate;
  enum class Check { kNone, kNorm, kScan } last_check_ = Check::kNone;
  int64_t skipped_steps_ = 0;
  uint32_t seed_ = 0;
  StateFormat format_ = StateFormat::kFloat32;
  ParamFormat param_format_ = ParamFormat::kFloat32;
};

}  // namespace fastoptim

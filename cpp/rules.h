// The list of update rules: the kernel table (dispatch.h), each target's instantiation
// (targets/table-inl.h) and the Python bindings (bindings.cc) all derive from it. A new rule is
// its header and kernel (kernels/<rule>.h, <rule>-inl.h) and one entry here.
#pragma once

#include "kernels/adadelta.h"
#include "kernels/adagrad.h"
#include "kernels/adam.h"
#include "kernels/adamax.h"
#include "kernels/lion.h"
#include "kernels/nadam.h"
#include "kernels/proximal.h"
#include "kernels/radam.h"
#include "kernels/rmsprop.h"
#include "kernels/sgd.h"
#include "kernels/traffic.h"

namespace fastoptim {

template <class... Rules>
struct RuleList {
  // Calls f(Rule{}) for each rule, in order.
  template <class F>
  static void for_each(F&& f) {
    (f(Rules{}), ...);
  }
};

// Traffic is the bandwidth ceiling of the benchmarks (a rule's memory traffic, no arithmetic).
using AllRules = RuleList<Sgd, Adam, Adagrad, Rmsprop, Adadelta, Adamax, Nadam, Radam, Lion,
                          ProximalSgd, ProximalAdagrad, Traffic>;

}  // namespace fastoptim

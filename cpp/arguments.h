// Reading what Python passes in: a param group's hyperparameters (GroupReader) and the arrays the
// kernels will touch. Every check runs before any kernel does, and every error names the
// argument ("params[3]", "lr in param group 0").
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "kernels/rule.h"

namespace fastoptim {

namespace py = pybind11;

// numpy.<name>, looked up once and kept for the process's lifetime: never released, because a
// static released at exit would run after the interpreter is gone.
const py::object& numpy_attr(const char* name);

// The type name of a Python object, for messages.
std::string type_name(py::handle o);

// Reads one param group (a dict) with validation; every error names the argument and the group.
class GroupReader {
 public:
  GroupReader(py::handle dict, int index);
  // A real number within `bound` (and finite).
  double real(const char* key, Bound bound);
  // A bool (or an int, or a NumPy bool).
  bool flag(const char* key);
  // A pair (b1, b2), each in [0, 1).
  void betas(const char* key, double* b1, double* b2);
  // Throws ValueError "Invalid <key> in param group <i>: <why>".
  [[noreturn]] void fail(const char* key, const std::string& why);

 private:
  py::handle get(const char* key);
  double to_double(const char* key, py::handle o);
  double check(const char* key, const char* shown, double v, Bound bound);

  py::handle dict_;
  int index_;
};

// An ndarray of float32 in native byte order, else TypeError. `what` names it ("params[3]").
py::array checked_float32(py::handle o, const std::string& what);
// Whether a kernel can walk the array with a plain float pointer.
bool contiguous_aligned(const py::array& a);
// A float32 array a kernel can read: C-contiguous and 4-byte aligned, else ValueError.
py::array checked_input(py::handle o, const std::string& what);
// A float32 array a kernel can update in place: checked_input, and writeable.
py::array checked_inplace_array(py::handle o, const std::string& what);
// A state array in place: float32 (bytes 4), 16-bit state's bits as uint16 (bytes 2: bfloat16
// state, a split parameter's low halves) or int8 state's codes as uint8 (bytes 1).
py::array checked_state_array(py::handle o, const std::string& what, int bytes);
// A list of parameters: each an in-place-writable array, float32 (bytes 4) or float16 or
// bfloat16 (bytes 2), no two overlapping.
std::vector<py::array> checked_params(py::list params, int bytes = 4);
// One array or a list (or tuple) of them, named what[i], each checked with `check`.
std::vector<py::array> array_list(py::handle o, const char* what,
                                  py::array (*check)(py::handle, const std::string&));

// One step's gradients: grads[i] for params[i] (None skips it: ptrs[i] stays null; numbers
// and lists are read as float32), each of params[i]'s shape, all of one dtype (float32,
// float16 or bfloat16), strided ones read through contiguous copies; `copies` holds every
// array read until the step is done. Returns their format. `rule` names the optimizer in errors.
GradFormat read_grads(py::handle grads, const std::string& rule,
                      const std::vector<py::array>& params, std::vector<const void*>& ptrs,
                      std::vector<py::object>& copies);

// The gradient format of an array dtype: float32, float16 or bfloat16 (ml_dtypes'); otherwise
// GradFormat(-1).
GradFormat grad_format(const py::dtype& d);

bool same_shape(const py::array& a, const py::array& b);
std::string shape_str(const py::array& a);

inline const float* fdata(const py::array& a) { return static_cast<const float*>(a.data()); }
inline float* fmut(py::array& a) { return static_cast<float*>(a.mutable_data()); }

}  // namespace fastoptim

// The scalar target: compiled with its own flags (see CMakeLists.txt).
#define FO_TARGET scalar
#define FO_TARGET_NAME "scalar"
#include "simd/vec_scalar.h"
#include "targets/table-inl.h"

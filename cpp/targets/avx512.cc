// The avx512 target: compiled with its own flags (see CMakeLists.txt).
#define FO_TARGET avx512
#define FO_TARGET_NAME "avx512"
#include "simd/vec_avx512.h"
#include "targets/table-inl.h"

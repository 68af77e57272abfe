// The avx2 target: compiled with its own flags (see CMakeLists.txt).
#define FO_TARGET avx2
#define FO_TARGET_NAME "avx2"
#include "simd/vec_avx2.h"
#include "targets/table-inl.h"

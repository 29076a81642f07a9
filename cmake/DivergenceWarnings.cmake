# Flags for the project's own tests, examples and benchmarks (never put on the INTERFACE target).
# DIVERGENCE_ARCH: the instruction set they build for (vector code needs AVX2 at least).
set(DIVERGENCE_ARCH "native" CACHE STRING "-march= value for tests, examples and benchmarks")
if(DIVERGENCE_OPENMP)
  find_package(OpenMP COMPONENTS CXX)
endif()

function(divergence_configure_target target)
  target_link_libraries(${target} PRIVATE divergence::divergence)
  target_compile_features(${target} PRIVATE cxx_std_17)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -march=${DIVERGENCE_ARCH})
  endif()
  # GCC 12 warns inside its own avx512fintrin.h when Eigen's AVX-512 reductions are inlined
  # (`__Y` "may be used uninitialized": the intrinsics start from an undefined vector on purpose;
  # GCC bug 105593, fixed in 13; the same bug reports `__Y` "is used uninitialized" at -O1 with
  # sanitizers). Dozens of these per build would hide the warnings that matter.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized -Wno-uninitialized)
  endif()
  if(DIVERGENCE_OPENMP AND OpenMP_CXX_FOUND)
    target_link_libraries(${target} PRIVATE OpenMP::OpenMP_CXX)
  endif()
endfunction()

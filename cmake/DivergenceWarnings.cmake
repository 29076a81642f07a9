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
  if(DIVERGENCE_OPENMP AND OpenMP_CXX_FOUND)
    target_link_libraries(${target} PRIVATE OpenMP::OpenMP_CXX)
  endif()
endfunction()

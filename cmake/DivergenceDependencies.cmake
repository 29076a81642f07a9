# Dependencies: the system's first (find_package), FetchContent as the fallback where a network
# exists (DIVERGENCE_FETCH_DEPENDENCIES=OFF turns the fallback into an error).
include(FetchContent)

function(_divergence_require_fetch what)
  if(NOT DIVERGENCE_FETCH_DEPENDENCIES)
    message(FATAL_ERROR "divergence: ${what} not found on the system and DIVERGENCE_FETCH_DEPENDENCIES is OFF. "
                        "Install it (Debian: see .ci/run) or point CMAKE_PREFIX_PATH at it.")
  endif()
  message(STATUS "divergence: ${what} not found on the system; fetching it")
endfunction()

# Eigen 3.4, for the library itself. A parent project that already has Eigen3::Eigen wins.
macro(divergence_find_eigen)
  set(DIVERGENCE_EIGEN_FETCHED OFF)
  if(NOT TARGET Eigen3::Eigen)
    find_package(Eigen3 3.4 QUIET NO_MODULE)
    if(NOT Eigen3_FOUND)
      _divergence_require_fetch("Eigen 3.4")
      # Only the headers are needed: SOURCE_SUBDIR names a folder without a CMakeLists.txt, so
      # Eigen's own build (tests, docs, BLAS checks, and its BUILD_TESTING cache entry, which
      # would override the parent's) is never configured.
      FetchContent_Declare(divergence_eigen
                           URL https://gitlab.com/libeigen/eigen/-/archive/3.4.0/eigen-3.4.0.tar.gz
                           URL_HASH SHA256=8586084f71f9bde545ee7fa6d00288b264a2b7ac3607b974e54d13e7162c1c72
                           SOURCE_SUBDIR no-cmake-build)
      FetchContent_MakeAvailable(divergence_eigen)
      add_library(divergence_eigen INTERFACE)
      target_include_directories(divergence_eigen SYSTEM INTERFACE $<BUILD_INTERFACE:${divergence_eigen_SOURCE_DIR}>)
      add_library(Eigen3::Eigen ALIAS divergence_eigen)
      set(DIVERGENCE_EIGEN_FETCHED ON)
    endif()
  endif()
endmacro()

# Catch2 2.13 (v2 API: catch2/catch.hpp), only for the project's own tests.
macro(divergence_find_catch2)
  if(NOT TARGET Catch2::Catch2WithMain)
    find_package(Catch2 2.13 QUIET)
    if(Catch2_FOUND)
      # Catch.cmake (catch_discover_tests) sits beside the package config.
      list(APPEND CMAKE_MODULE_PATH "${Catch2_DIR}")
    else()
      _divergence_require_fetch("Catch2 2.13")
      # v2's CMake builds Catch2::Catch2WithMain only with CATCH_BUILD_STATIC_LIBRARY.
      set(CATCH_BUILD_STATIC_LIBRARY ON CACHE BOOL "" FORCE)
      set(CATCH_INSTALL_DOCS OFF CACHE BOOL "" FORCE)
      set(CATCH_INSTALL_HELPERS OFF CACHE BOOL "" FORCE)
      FetchContent_Declare(divergence_catch2 URL https://github.com/catchorg/Catch2/archive/refs/tags/v2.13.10.tar.gz
                           URL_HASH SHA256=d54a712b7b1d7708bc7a819a8e6e47b2fde9536f487b89ccbca295072a7d9943)
      FetchContent_MakeAvailable(divergence_catch2)
      list(APPEND CMAKE_MODULE_PATH "${divergence_catch2_SOURCE_DIR}/contrib")
    endif()
  endif()
endmacro()

# Google Benchmark, only for the project's own benchmarks.
macro(divergence_find_benchmark)
  if(NOT TARGET benchmark::benchmark)
    find_package(benchmark QUIET)
    if(NOT benchmark_FOUND)
      _divergence_require_fetch("Google Benchmark")
      set(BENCHMARK_ENABLE_TESTING OFF CACHE BOOL "" FORCE)
      set(BENCHMARK_ENABLE_GTEST_TESTS OFF CACHE BOOL "" FORCE)
      set(BENCHMARK_ENABLE_INSTALL OFF CACHE BOOL "" FORCE)
      FetchContent_Declare(divergence_benchmark URL https://github.com/google/benchmark/archive/refs/tags/v1.8.3.tar.gz
                           URL_HASH SHA256=6bc180a57d23d4d9515519f92b0c83d61b05b5bab188961f36ac7b06b0d9e9ce)
      FetchContent_MakeAvailable(divergence_benchmark)
    endif()
  endif()
endmacro()

#ifndef DIVERGENCE_TESTS_SUPPORT_COUNTING_ALLOCATOR_HPP
#define DIVERGENCE_TESTS_SUPPORT_COUNTING_ALLOCATOR_HPP

// The test executable's global operator new and delete count the bytes they hand out
// (tests/support/counting_allocator.cpp), so a test can bound what a call allocates.

namespace test {

/// Bytes allocated by operator new and not yet freed.
long long live_bytes();
/// The largest live_bytes() since the last reset_peak_bytes().
long long peak_bytes();
/// Starts a new peak at the current live_bytes().
void reset_peak_bytes();

}  // namespace test

#endif

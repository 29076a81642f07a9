#ifndef DIVERGENCE_TESTS_SUPPORT_ERRORS_HPP
#define DIVERGENCE_TESTS_SUPPORT_ERRORS_HPP

// The check the tests of rejected calls share: the call throws std::invalid_argument, and its
// message says what is wrong.

#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>

namespace test {

/// Checks that call() throws std::invalid_argument whose message contains each of `parts` (the
/// test fails if it returns; another exception propagates and fails it too).
template <class Call, class... Parts>
void fails_with(const Call& call, const Parts&... parts)
{
    try {
        call();
    } catch (const std::invalid_argument& e) {
        const std::string message = e.what();
        for (const std::string& part : {std::string(parts)...}) {
            CAPTURE(message);
            CHECK(message.find(part) != std::string::npos);
        }
        return;
    }
    FAIL("no exception");
}

}  // namespace test

#endif

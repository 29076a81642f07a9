// The .npy reader (io/npy.hpp): two fixed files written by numpy.save
// (tests/reference/make_npy_fixtures.py), every accepted variant (float32/float64, C/Fortran order,
// int32/int64, versions 1.0 and 2.0) from headers written here, and every refused file.

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>

#include "divergence/io/npy.hpp"
#include "support/errors.hpp"

namespace io_npy_test {  // the test binary is a unity build: each file keeps its names to itself

namespace io = divergence::io;

namespace {

/// The fixtures' folder, found from this file's path (CMake compiles it by its absolute path).
std::string fixture(const std::string& name)
{
    const std::string here = __FILE__;
    return here.substr(0, here.rfind("/io/")) + "/reference/npy/" + name;
}

/// A .npy stream: magic, version, header dict padded with spaces to a multiple of 64 bytes and ended by
/// '\n' (as numpy writes it), then `data`.
std::string npy(const std::string& dict, const std::string& data, int major = 1)
{
    const std::size_t prefix = major == 1 ? 10 : 12;
    std::string header = dict;
    while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
    header += '\n';
    std::string out = std::string("\x93NUMPY", 6) + char(major) + char(0);
    const std::size_t n = header.size();
    out += char(n & 0xff);
    out += char((n >> 8) & 0xff);
    if (major != 1) out += std::string(2, '\0');
    return out + header + data;
}

template <class T>
std::string bytes_of(std::initializer_list<T> values)
{
    std::string out;
    for (T v : values) out.append(reinterpret_cast<const char*>(&v), sizeof v);
    return out;
}

}  // namespace

TEST_CASE("npy: the fixtures numpy.save wrote (float32 logits, int64 labels)", "[npy]")
{
    const divergence::RowMatrix<float> logits = io::load_npy_matrix<float>(fixture("base_logits.npy"));
    REQUIRE(logits.rows() == 3);
    REQUIRE(logits.cols() == 5);
    for (int i = 0; i < 15; ++i) CHECK(logits(i / 5, i % 5) == float(i - 7) / 4.0f);
    const divergence::RowMatrix<double> wide = io::load_npy_matrix<double>(fixture("base_logits.npy"));
    CHECK(wide == logits.cast<double>());
    const auto labels = io::load_npy_labels(fixture("next_tokens.npy"));
    REQUIRE(labels.size() == 3);
    CHECK(labels(0) == 4);
    CHECK(labels(1) == 0);
    CHECK(labels(2) == 2);
    const io::NpyHeader header = io::npy_header(fixture("base_logits.npy"));
    CHECK(header.kind == 'f');
    CHECK(header.item_size == 4);
    CHECK(!header.fortran_order);
    CHECK(header.shape == std::vector<Eigen::Index>{3, 5});
}

TEST_CASE("npy: float64, Fortran order, int32, version 2.0 and column-vector labels", "[npy]")
{
    {
        std::istringstream in(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", bytes_of<double>({1, 2, 3, 4, 5, 6.5})));
        const auto m = io::load_npy_matrix<double>(in);
        CHECK(m == (divergence::RowMatrix<double>(2, 3) << 1, 2, 3, 4, 5, 6.5).finished());
    }
    {
        // Fortran order: the entries are column after column.
        std::istringstream in(npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", bytes_of<float>({1, 4, 2, 5, 3, 6})));
        const auto m = io::load_npy_matrix<float>(in);
        CHECK(m == (divergence::RowMatrix<float>(2, 3) << 1, 2, 3, 4, 5, 6).finished());
    }
    {
        std::istringstream in(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }", bytes_of<double>({0.1, -1e300}), 2));
        const auto m = io::load_npy_matrix<float>(in);  // rounded to float
        CHECK(m(0, 0) == 0.1f);
        CHECK(m(0, 1) == -std::numeric_limits<float>::infinity());
    }
    {
        std::istringstream in(npy("{'descr': '<i4', 'fortran_order': False, 'shape': (3, 1), }", bytes_of<std::int32_t>({7, -100, 0})));
        const auto y = io::load_npy_labels(in);
        CHECK(y == (Eigen::Matrix<long long, Eigen::Dynamic, 1>(3) << 7, -100, 0).finished());
    }
    {
        std::istringstream in(npy("{'descr': '<i8', 'fortran_order': False, 'shape': (0,), }", ""));
        CHECK(io::load_npy_labels(in).size() == 0);
    }
}

TEST_CASE("npy: refused files name the file and the problem", "[npy][errors]")
{
    const auto matrix = [](const std::string& bytes) {
        return [bytes] {
            std::istringstream in(bytes);
            (void)io::load_npy_matrix<double>(in, "x.npy");
        };
    };
    const auto labels = [](const std::string& bytes) {
        return [bytes] {
            std::istringstream in(bytes);
            (void)io::load_npy_labels(in, "y.npy");
        };
    };
    const std::string f8 = bytes_of<double>({1, 2});
    test::fails_with(matrix("PK\x03\x04 not numpy"), "io::load_npy_matrix", "x.npy", "not a .npy file");
    test::fails_with(matrix("\x93NUM"), "x.npy", "truncated");
    std::string v4 = npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }", f8);
    v4[6] = 4;
    test::fails_with(matrix(v4), "unsupported .npy version 4.0");
    test::fails_with(matrix(npy("{'descr': '>f8', 'fortran_order': False, 'shape': (1, 2), }", f8)), "unsupported dtype '>f8'");
    test::fails_with(matrix(npy("{'descr': '<f2', 'fortran_order': False, 'shape': (1, 2), }", f8)), "unsupported dtype '<f2'");
    test::fails_with(matrix(npy("{'descr': '|O', 'fortran_order': False, 'shape': (1, 2), }", f8)), "unsupported dtype '|O'");
    test::fails_with(matrix(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", f8)), "is 1-D; a matrix is 2-D");
    test::fails_with(matrix(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 3), }", f8)), "truncated: 16 bytes where 24");
    test::fails_with(matrix(npy("{'descr': '<i8', 'fortran_order': False, 'shape': (1, 2), }", f8)), "holds integers");
    test::fails_with(matrix(npy("{'descr': '<f8', 'fortran_order': Maybe, 'shape': (1, 2), }", f8)), "malformed fortran_order");
    test::fails_with(matrix(npy("{'descr': '<f8', 'fortran_order': False, 'shape': [1, 2], }", f8)), "malformed shape");
    test::fails_with(matrix(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1, -2), }", f8)), "malformed shape");
    test::fails_with(matrix(npy("{'descr': '<f8', 'fortran_order': False, }", f8)), "the header has no 'shape'");
    test::fails_with(matrix(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999, 99999999999), }", f8)), "too many entries");
    std::string no_newline = npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }", f8);
    no_newline[10 + 117] = ' ';
    test::fails_with(matrix(no_newline), "the header does not end with a newline");
    test::fails_with(labels(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", f8)), "io::load_npy_labels", "y.npy",
                     "holds floating-point numbers");
    test::fails_with(labels(npy("{'descr': '<i8', 'fortran_order': False, 'shape': (2, 2), }", f8 + f8)), "is not a vector");
    test::fails_with([] { (void)io::load_npy_matrix<float>(fixture("missing.npy")); }, "missing.npy", "cannot be opened");
    test::fails_with([] { (void)io::load_npy_labels(fixture("missing.npy")); }, "cannot be opened");
}

}  // namespace io_npy_test

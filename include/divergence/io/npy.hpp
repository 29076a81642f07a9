#ifndef DIVERGENCE_IO_NPY_HPP
#define DIVERGENCE_IO_NPY_HPP

// A reader of NumPy's .npy files (numpy.save) for the arrays a model comparison reads: 2-D float32 or
// float64 logits and 1-D int32 or int64 labels. The format: the magic "\x93NUMPY", a version byte pair,
// a header length (2 bytes little-endian in version 1.0, 4 bytes in 2.0 and 3.0), a header that is a
// Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (B, V), } ending in '\n', then
// the entries (NumPy's "format.rst": numpy.lib.format).
//
// The accepted subset: versions 1.0, 2.0 and 3.0; descr '<f4', '<f8' (matrices), '<i4', '<i8' (labels),
// little-endian ('|' and '=' are not written by numpy for these types on little-endian machines and are
// refused like '>'); C order or Fortran order; no object arrays, structured dtypes or pickles. Matrices
// are 2-D; label vectors 1-D (or 2-D with one dimension 1). The machine reading must be little-endian.

#include <Eigen/Core>

#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <istream>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "divergence/core/config.hpp"
#include "divergence/core/error.hpp"

namespace divergence::io {

/// What a .npy header says.
struct NpyHeader {
    char kind = 0;                 ///< 'f' (floating point) or 'i' (signed integer)
    int item_size = 0;             ///< bytes per entry: 4 or 8
    bool fortran_order = false;    ///< entries in column-major order
    std::vector<Index> shape;      ///< the dimensions
    Index entries() const
    {
        Index n = 1;
        for (Index d : shape) n *= d;
        return n;
    }
};

namespace detail {

[[noreturn]] inline void npy_fail(const char* function, const std::string& name, const std::string& problem)
{
    divergence::detail::fail(function, "file", name + ": " + problem);
}

inline bool little_endian_machine()
{
    const std::uint16_t one = 1;
    unsigned char first = 0;
    std::memcpy(&first, &one, 1);
    return first == 1;
}

/// The text after `'key':` in a header dict (spaces skipped), or fails.
inline std::size_t npy_value_of(const char* function, const std::string& name, const std::string& header, const char* key)
{
    const std::string quoted = std::string("'") + key + "'";
    std::size_t at = header.find(quoted);
    if (at == std::string::npos) npy_fail(function, name, "the header has no '" + std::string(key) + "': " + header);
    at += quoted.size();
    while (at < header.size() && std::isspace(static_cast<unsigned char>(header[at]))) ++at;
    if (at >= header.size() || header[at] != ':') npy_fail(function, name, "malformed header: " + header);
    ++at;
    while (at < header.size() && std::isspace(static_cast<unsigned char>(header[at]))) ++at;
    return at;
}

/// Parses the dict of a header (see the file comment).
inline NpyHeader parse_npy_dict(const char* function, const std::string& name, const std::string& header)
{
    NpyHeader out;
    std::size_t at = npy_value_of(function, name, header, "descr");
    if (at >= header.size() || (header[at] != '\'' && header[at] != '"')) npy_fail(function, name, "malformed descr: " + header);
    const std::size_t end = header.find(header[at], at + 1);
    if (end == std::string::npos) npy_fail(function, name, "malformed descr: " + header);
    const std::string descr = header.substr(at + 1, end - at - 1);
    if (descr == "<f4" || descr == "<f8" || descr == "<i4" || descr == "<i8") {
        out.kind = descr[1];
        out.item_size = descr[2] - '0';
    } else {
        npy_fail(function, name, "unsupported dtype '" + descr + "' (accepted: '<f4', '<f8' for matrices, '<i4', '<i8' for labels)");
    }

    at = npy_value_of(function, name, header, "fortran_order");
    if (header.compare(at, 4, "True") == 0) {
        out.fortran_order = true;
    } else if (header.compare(at, 5, "False") != 0) {
        npy_fail(function, name, "malformed fortran_order: " + header);
    }

    at = npy_value_of(function, name, header, "shape");
    if (at >= header.size() || header[at] != '(') npy_fail(function, name, "malformed shape: " + header);
    ++at;
    Index entries = 1;
    for (;;) {
        while (at < header.size() && (std::isspace(static_cast<unsigned char>(header[at])) || header[at] == ',')) ++at;
        if (at >= header.size()) npy_fail(function, name, "malformed shape: " + header);
        if (header[at] == ')') break;
        if (!std::isdigit(static_cast<unsigned char>(header[at]))) npy_fail(function, name, "malformed shape: " + header);
        Index d = 0;
        while (at < header.size() && std::isdigit(static_cast<unsigned char>(header[at]))) {
            if (d > (std::numeric_limits<Index>::max() - 9) / 10) npy_fail(function, name, "a dimension is too large: " + header);
            d = d * 10 + (header[at++] - '0');
        }
        if (d > 0 && entries > std::numeric_limits<Index>::max() / 8 / d) npy_fail(function, name, "too many entries: " + header);
        entries *= d;
        out.shape.push_back(d);
    }
    return out;
}

inline void npy_read(const char* function, const std::string& name, std::istream& in, char* to, std::size_t bytes)
{
    in.read(to, std::streamsize(bytes));
    if (std::size_t(in.gcount()) != bytes) {
        npy_fail(function, name, "truncated: " + std::to_string(in.gcount()) + " bytes where " + std::to_string(bytes) + " were expected");
    }
}

/// The header of a .npy stream, read up to the first entry.
inline NpyHeader read_npy_header(const char* function, const std::string& name, std::istream& in)
{
    if (!little_endian_machine()) npy_fail(function, name, "this reader needs a little-endian machine");
    char magic[8];
    npy_read(function, name, in, magic, 8);
    if (std::memcmp(magic, "\x93NUMPY", 6) != 0) npy_fail(function, name, "not a .npy file (no \\x93NUMPY magic)");
    const int major = static_cast<unsigned char>(magic[6]);
    if (major < 1 || major > 3) npy_fail(function, name, "unsupported .npy version " + std::to_string(major) + "." + std::to_string(int(static_cast<unsigned char>(magic[7]))));
    unsigned char length_bytes[4] = {0, 0, 0, 0};
    const int length_size = major == 1 ? 2 : 4;
    npy_read(function, name, in, reinterpret_cast<char*>(length_bytes), std::size_t(length_size));
    std::size_t length = 0;
    for (int i = length_size - 1; i >= 0; --i) length = length * 256 + length_bytes[i];
    if (length > (std::size_t(1) << 24)) npy_fail(function, name, "header of " + std::to_string(length) + " bytes: too long");
    std::string header(length, '\0');
    npy_read(function, name, in, header.data(), length);
    if (header.empty() || header.back() != '\n') npy_fail(function, name, "the header does not end with a newline");
    return parse_npy_dict(function, name, header);
}

/// The entries of a stream whose header was read, converted to T, in the file's order.
template <class T>
std::vector<T> read_npy_entries(const char* function, const std::string& name, std::istream& in, const NpyHeader& header)
{
    const std::size_t n = std::size_t(header.entries());
    std::vector<char> bytes(n * std::size_t(header.item_size));
    npy_read(function, name, in, bytes.data(), bytes.size());
    std::vector<T> out(n);
    for (std::size_t i = 0; i < n; ++i) {
        const char* at = bytes.data() + i * std::size_t(header.item_size);
        if (header.kind == 'f' && header.item_size == 4) {
            float v;
            std::memcpy(&v, at, 4);
            out[i] = T(v);
        } else if (header.kind == 'f') {
            double v;
            std::memcpy(&v, at, 8);
            // A double beyond float's range becomes +-inf (converting it directly is undefined behaviour).
            if (std::is_same_v<T, float> && std::abs(v) > double(std::numeric_limits<float>::max()) && !std::isnan(v)) {
                v = std::copysign(std::numeric_limits<double>::infinity(), v);
            }
            out[i] = T(v);
        } else if (header.item_size == 4) {
            std::int32_t v;
            std::memcpy(&v, at, 4);
            out[i] = T(v);
        } else {
            std::int64_t v;
            std::memcpy(&v, at, 8);
            out[i] = T(v);
        }
    }
    return out;
}

}  // namespace detail

/// The header of a .npy file (to choose float or double before loading). \throws as load_npy_matrix.
inline NpyHeader npy_header(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) detail::npy_fail("io::npy_header", path, "cannot be opened");
    return detail::read_npy_header("io::npy_header", path, in);
}

/// A 2-D float32 or float64 array from a .npy stream as a row-major matrix of Scalar (float64 entries
/// are rounded to float for Scalar = float; beyond float's range they become +-inf). `name` is used in
/// messages.
/// \throws std::invalid_argument naming the file and the problem: not a .npy file, a version or dtype
/// outside the accepted subset (see the file comment), not 2-D, or truncated.
template <class Scalar>
RowMatrix<Scalar> load_npy_matrix(std::istream& in, const std::string& name = "stream")
{
    const char* function = "io::load_npy_matrix";
    const NpyHeader header = detail::read_npy_header(function, name, in);
    if (header.kind != 'f') detail::npy_fail(function, name, "holds integers; a matrix of logits is float32 or float64");
    if (header.shape.size() != 2) detail::npy_fail(function, name, "is " + std::to_string(header.shape.size()) + "-D; a matrix is 2-D");
    const std::vector<Scalar> entries = detail::read_npy_entries<Scalar>(function, name, in, header);
    const Index rows = header.shape[0], cols = header.shape[1];
    if (header.fortran_order) {
        return Eigen::Map<const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>>(entries.data(), rows, cols);
    }
    return Eigen::Map<const RowMatrix<Scalar>>(entries.data(), rows, cols);
}

/// load_npy_matrix from a file. \throws std::invalid_argument also if it cannot be opened.
template <class Scalar>
RowMatrix<Scalar> load_npy_matrix(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) detail::npy_fail("io::load_npy_matrix", path, "cannot be opened");
    return load_npy_matrix<Scalar>(in, path);
}

/// A 1-D int32 or int64 array (or 2-D with one dimension 1) from a .npy stream, e.g. the next tokens.
/// \throws std::invalid_argument naming the file and the problem (as load_npy_matrix; floats refused).
inline Eigen::Matrix<long long, Eigen::Dynamic, 1> load_npy_labels(std::istream& in, const std::string& name = "stream")
{
    const char* function = "io::load_npy_labels";
    const NpyHeader header = detail::read_npy_header(function, name, in);
    if (header.kind != 'i') detail::npy_fail(function, name, "holds floating-point numbers; labels are int32 or int64");
    const bool vector = header.shape.size() == 1 || (header.shape.size() == 2 && (header.shape[0] == 1 || header.shape[1] == 1));
    if (!vector) detail::npy_fail(function, name, "is not a vector (1-D, or 2-D with one dimension 1)");
    const std::vector<long long> entries = detail::read_npy_entries<long long>(function, name, in, header);
    return Eigen::Map<const Eigen::Matrix<long long, Eigen::Dynamic, 1>>(entries.data(), Index(entries.size()));
}

/// load_npy_labels from a file. \throws std::invalid_argument also if it cannot be opened.
inline Eigen::Matrix<long long, Eigen::Dynamic, 1> load_npy_labels(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) detail::npy_fail("io::load_npy_labels", path, "cannot be opened");
    return load_npy_labels(in, path);
}

}  // namespace divergence::io

#endif

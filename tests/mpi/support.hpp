#ifndef DIVERGENCE_TESTS_MPI_SUPPORT_HPP
#define DIVERGENCE_TESTS_MPI_SUPPORT_HPP

// What the MPI tests share: the world's rank and size, vocabulary layouts (uneven slices, empty ones),
// and the check that every rank holds the same bits.

#include <mpi.h>

#include <Eigen/Core>

#include <cstring>
#include <numeric>
#include <string>
#include <vector>

namespace test::mpi {

inline int rank()
{
    int r = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

inline int size()
{
    int s = 0;
    MPI_Comm_size(MPI_COMM_WORLD, &s);
    return s;
}

/// How a vocabulary of V columns is cut into the ranks' slices.
enum class Layout {
    even,        ///< V / size each, the remainder to the first ranks
    skewed,      ///< rank r gets about (r + 1)^2 parts: uneven
    empty_rank,  ///< rank 1 holds no column (on 1 rank: even)
    last_only    ///< the last rank holds every column, the others none
};

inline const char* name(Layout layout)
{
    switch (layout) {
    case Layout::even: return "even";
    case Layout::skewed: return "skewed";
    case Layout::empty_rank: return "empty_rank";
    default: return "last_only";
    }
}

/// Each rank's number of columns, in rank order (they sum to V).
inline std::vector<Eigen::Index> slice_sizes(Eigen::Index v, int ranks, Layout layout)
{
    std::vector<Eigen::Index> weight(std::size_t(ranks), 1);
    for (int r = 0; r < ranks; ++r) {
        if (layout == Layout::skewed) weight[std::size_t(r)] = (r + 1) * (r + 1);
        if (layout == Layout::empty_rank && r == 1) weight[std::size_t(r)] = 0;
        if (layout == Layout::last_only && r + 1 < ranks) weight[std::size_t(r)] = 0;
    }
    const Eigen::Index total = std::accumulate(weight.begin(), weight.end(), Eigen::Index(0));
    std::vector<Eigen::Index> sizes(std::size_t(ranks), 0);
    Eigen::Index given = 0;
    for (int r = 0; r < ranks; ++r) {
        sizes[std::size_t(r)] = v * weight[std::size_t(r)] / total;
        given += sizes[std::size_t(r)];
    }
    for (int r = 0; given < v; r = (r + 1) % ranks) {
        if (weight[std::size_t(r)] == 0) continue;
        ++sizes[std::size_t(r)];
        ++given;
    }
    return sizes;
}

/// This rank's first column and number of columns.
struct Slice {
    Eigen::Index offset = 0;
    Eigen::Index cols = 0;
};

inline Slice my_slice(Eigen::Index v, Layout layout)
{
    const std::vector<Eigen::Index> sizes = slice_sizes(v, size(), layout);
    Slice s;
    for (int r = 0; r < rank(); ++r) s.offset += sizes[std::size_t(r)];
    s.cols = sizes[std::size_t(rank())];
    return s;
}

/// Whether every rank holds the same bytes.
template <class T>
bool same_on_every_rank(const T* data, std::size_t count)
{
    const std::size_t bytes = count * sizeof(T);
    std::vector<char> all(bytes * std::size_t(size()));
    MPI_Allgather(data, int(bytes), MPI_BYTE, all.data(), int(bytes), MPI_BYTE, MPI_COMM_WORLD);
    for (int r = 1; r < size(); ++r) {
        if (std::memcmp(all.data(), all.data() + bytes * std::size_t(r), bytes) != 0) return false;
    }
    return true;
}

}  // namespace test::mpi

#endif

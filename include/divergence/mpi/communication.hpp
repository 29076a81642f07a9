#ifndef DIVERGENCE_MPI_COMMUNICATION_HPP
#define DIVERGENCE_MPI_COMMUNICATION_HPP

// The collectives of divergence's MPI functions (include/divergence/mpi/), and the count of what
// they carry. Every collective of the library goes through this header, so a program (or a test)
// can read how many calls and bytes this process put into them.
//
// Mergeable states (core/logsumexp.hpp's LogSumExp, core/sum.hpp's CompensatedSum, the fused
// kernels' partial states) are reduced by one MPI_Allreduce with a user-defined, non-commutative
// MPI_Op that calls the state's own merge: MPI applies a non-commutative operation in rank order,
// so rank r's slice is merged after those of ranks 0 .. r - 1, as the executor merges the chunks
// of a row in column order.

#include <mpi.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "divergence/core/config.hpp"
#include "divergence/core/error.hpp"

namespace divergence::mpi {

/// What this process has put into the library's collectives: the number of collective calls and
/// their payload in bytes (what this rank contributes: count x element size of an MPI_Allreduce or
/// MPI_Allgather(v) send buffer, the buffer of an MPI_Bcast; not the transport's own traffic).
struct Traffic {
    long long collectives = 0;
    long long bytes = 0;
};

namespace detail {

inline std::atomic<long long>& collective_counter()
{
    static std::atomic<long long> count{0};
    return count;
}

inline std::atomic<long long>& byte_counter()
{
    static std::atomic<long long> count{0};
    return count;
}

inline void count_collective(std::size_t bytes)
{
    collective_counter() += 1;
    byte_counter() += static_cast<long long>(bytes);
}

/// MPI's default error handler aborts; a communicator set to return errors gets an exception.
inline void check(int status, const char* call)
{
    if (status != MPI_SUCCESS) throw std::runtime_error(std::string("divergence::mpi: ") + call + " failed");
}

/// A contiguous MPI datatype of sizeof(T) bytes, for trivially copyable states; freed with the object.
template <class T>
class ByteType {
public:
    static_assert(std::is_trivially_copyable_v<T>, "divergence: MPI states are trivially copyable.");
    ByteType()
    {
        check(MPI_Type_contiguous(int(sizeof(T)), MPI_BYTE, &type_), "MPI_Type_contiguous");
        check(MPI_Type_commit(&type_), "MPI_Type_commit");
    }
    ~ByteType() { MPI_Type_free(&type_); }
    ByteType(const ByteType&) = delete;
    ByteType& operator=(const ByteType&) = delete;
    MPI_Datatype get() const { return type_; }

private:
    MPI_Datatype type_ = MPI_DATATYPE_NULL;
};

/// The non-commutative MPI_Op `inout[i] = in[i] merged with inout[i]` of a state T with
/// `void merge(const T& next)` (T's merge of the states of two adjacent slices, left then right).
/// MPI passes the lower ranks' partial result as `in`. Buffers may be unaligned: copied through.
template <class T>
class MergeOp {
public:
    MergeOp() { check(MPI_Op_create(&apply, 0, &op_), "MPI_Op_create"); }
    ~MergeOp() { MPI_Op_free(&op_); }
    MergeOp(const MergeOp&) = delete;
    MergeOp& operator=(const MergeOp&) = delete;
    MPI_Op get() const { return op_; }

private:
    static void apply(void* in, void* inout, int* length, MPI_Datatype*)
    {
        const char* left = static_cast<const char*>(in);
        char* right = static_cast<char*>(inout);
        for (int i = 0; i < *length; ++i) {
            T merged, next;
            std::memcpy(static_cast<void*>(&merged), left + std::size_t(i) * sizeof(T), sizeof(T));
            std::memcpy(static_cast<void*>(&next), right + std::size_t(i) * sizeof(T), sizeof(T));
            merged.merge(next);
            std::memcpy(right + std::size_t(i) * sizeof(T), static_cast<const void*>(&merged), sizeof(T));
        }
    }
    MPI_Op op_ = MPI_OP_NULL;
};

/// Merges states[i] of every rank, in rank order, into states[i] on every rank: one MPI_Allreduce
/// of states.size() x sizeof(T) bytes.
template <class T>
void allreduce_merge(std::vector<T>& states, MPI_Comm comm)
{
    const ByteType<T> type;
    const MergeOp<T> op;
    count_collective(states.size() * sizeof(T));
    check(MPI_Allreduce(MPI_IN_PLACE, states.data(), int(states.size()), type.get(), op.get(), comm), "MPI_Allreduce");
}

/// Every rank's `mine`, in rank order: one MPI_Allgather of sizeof(T) bytes.
template <class T>
std::vector<T> allgather(const T& mine, MPI_Comm comm)
{
    int size = 0;
    check(MPI_Comm_size(comm, &size), "MPI_Comm_size");
    const ByteType<T> type;
    std::vector<T> all(static_cast<std::size_t>(size));
    count_collective(sizeof(T));
    check(MPI_Allgather(&mine, 1, type.get(), all.data(), 1, type.get(), comm), "MPI_Allgather");
    return all;
}

/// Every rank's vector of doubles (lengths may differ), concatenated in rank order on every rank:
/// one MPI_Allgather of the lengths (8 bytes) and one MPI_Allgatherv of the values (8 x length bytes).
/// `lengths` receives each rank's length.
inline std::vector<double> allgatherv(const std::vector<double>& mine, MPI_Comm comm, std::vector<std::int64_t>& lengths)
{
    lengths = allgather(std::int64_t(mine.size()), comm);
    std::vector<int> counts(lengths.size()), displacements(lengths.size());
    std::int64_t total = 0;
    for (std::size_t r = 0; r < lengths.size(); ++r) {
        counts[r] = int(lengths[r]);
        displacements[r] = int(total);
        total += lengths[r];
    }
    std::vector<double> all(static_cast<std::size_t>(total));
    count_collective(mine.size() * sizeof(double));
    check(MPI_Allgatherv(mine.data(), int(mine.size()), MPI_DOUBLE, all.data(), counts.data(), displacements.data(),
                         MPI_DOUBLE, comm),
          "MPI_Allgatherv");
    return all;
}

/// `message` of rank `root` on every rank (two MPI_Bcast: the length, then the characters).
inline std::string broadcast(const std::string& message, int root, MPI_Comm comm)
{
    std::int64_t length = std::int64_t(message.size());
    count_collective(sizeof(length));
    check(MPI_Bcast(&length, 1, MPI_INT64_T, root, comm), "MPI_Bcast");
    std::string out = message;
    out.resize(std::size_t(length));
    count_collective(std::size_t(length));
    if (length > 0) check(MPI_Bcast(&out[0], int(length), MPI_CHAR, root, comm), "MPI_Bcast");
    return out;
}

/// FNV-1a over bytes: a fingerprint of the arguments every rank must hold alike.
class Fingerprint {
public:
    void add_bytes(const void* data, std::size_t n)
    {
        const auto* bytes = static_cast<const unsigned char*>(data);
        for (std::size_t i = 0; i < n; ++i) hash_ = (hash_ ^ bytes[i]) * 1099511628211ull;
    }
    template <class T>
    void add(const T& value)
    {
        static_assert(std::is_trivially_copyable_v<T>, "fingerprinted values are trivially copyable");
        add_bytes(&value, sizeof(T));
    }
    std::uint64_t value() const { return hash_; }

private:
    std::uint64_t hash_ = 14695981039346656037ull;
};

/// What each rank says before a call computes anything: whether its own checks failed, its rows
/// and columns, and the fingerprint of the arguments that must be the same everywhere.
struct Agreement {
    std::int64_t failed = 0;
    std::int64_t rows = 0;
    std::int64_t cols = 0;
    std::uint64_t fingerprint = 0;
};

/// Where this rank's columns sit in the whole vocabulary.
struct Layout {
    Index offset = 0;  ///< the global index of this rank's column 0
    Index total = 0;   ///< V, the sum of every rank's columns
};

/// The agreement step of every call: one MPI_Allgather of 32 bytes per rank. If some rank's own checks
/// failed (`error.failed()`; its message `error.text(offset)`, given this rank's column offset),
/// every rank throws std::invalid_argument with the message of the lowest such rank (broadcast from
/// it); if the ranks' rows or fingerprints differ, every rank throws naming `function`. So a mistake
/// on one rank never leaves the others waiting in a collective. Returns this rank's columns' place
/// in the vocabulary (slices in rank order).
template <class Error>
Layout agree(const char* function, const Error& error, Index rows, Index cols, std::uint64_t fingerprint, MPI_Comm comm)
{
    int rank = 0;
    check(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
    Agreement mine;
    mine.failed = error.failed() ? 1 : 0;
    mine.rows = rows;
    mine.cols = cols;
    mine.fingerprint = fingerprint;
    const std::vector<Agreement> all = allgather(mine, comm);
    Layout layout;
    for (std::size_t r = 0; r < all.size(); ++r) {
        if (int(r) < rank) layout.offset += Index(all[r].cols);
        layout.total += Index(all[r].cols);
    }
    for (std::size_t r = 0; r < all.size(); ++r) {
        if (all[r].failed) {
            const std::string message = broadcast(int(r) == rank ? error.text(layout.offset) : std::string(), int(r), comm);
            throw std::invalid_argument(message + " (on rank " + std::to_string(r) + ")");
        }
    }
    for (std::size_t r = 0; r < all.size(); ++r) {
        if (all[r].rows != all[0].rows) {
            divergence::detail::fail(function, "q",
                                     "rank " + std::to_string(r) + " has " + std::to_string(all[r].rows) + " rows, rank 0 " +
                                         std::to_string(all[0].rows) + ": every rank holds every row of the batch (its own columns)");
        }
        if (all[r].fingerprint != all[0].fingerprint) {
            divergence::detail::fail(function, "options",
                                     "rank " + std::to_string(r) +
                                         " differs from rank 0 in the temperatures, options, mask, weights, labels or "
                                         "parameters: they must be the same on every rank");
        }
    }
    return layout;
}

}  // namespace detail

/// The calls and bytes this process has put into the library's collectives (see Traffic).
inline Traffic traffic()
{
    return {detail::collective_counter().load(), detail::byte_counter().load()};
}

/// Sets the counts of traffic() to 0.
inline void reset_traffic()
{
    detail::collective_counter() = 0;
    detail::byte_counter() = 0;
}

}  // namespace divergence::mpi

#endif

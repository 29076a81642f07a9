#ifndef DIVERGENCE_MPI_MERGE_HPP
#define DIVERGENCE_MPI_MERGE_HPP

// Data-parallel evaluation: each rank accumulates statistics over its own share of the data in a
// mergeable accumulator (e.g. losses/comparison.hpp's ModelComparison); mpi::merge gives every rank
// the accumulator of all the data, as if one process had seen it all.

#include <mpi.h>

#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#include "divergence/mpi/communication.hpp"

namespace divergence::mpi {

/// The accumulator of every rank's data, on every rank: each rank's state is serialized
/// (`std::vector<double> serialize() const`), the states are gathered on every rank (one
/// MPI_Allgather of their lengths, 8 bytes, and one MPI_Allgatherv of 8 x length bytes from each
/// rank), and merged in rank order: deserialize(state of rank 0), then `merge(const Accumulator&)`
/// of ranks 1, 2, ... So every rank holds the same accumulator, the one a single process gets by
/// merging the ranks' accumulators in that order; for an accumulator whose merge is exact (counts,
/// compensated sums, the stored samples of percentiles) that is the single-process accumulator of
/// all the data. Accumulator: `std::vector<double> serialize() const`,
/// `static Accumulator deserialize(const std::vector<double>&)`, `void merge(const Accumulator&)`.
/// \throws what Accumulator::deserialize or merge throw (every rank alike: they see the same states).
template <class Accumulator>
Accumulator merge(const Accumulator& local, MPI_Comm comm)
{
    static_assert(std::is_same_v<decltype(std::declval<const Accumulator&>().serialize()), std::vector<double>>,
                  "divergence::mpi::merge: the accumulator needs std::vector<double> serialize() const.");
    std::vector<std::int64_t> lengths;
    const std::vector<double> all = detail::allgatherv(local.serialize(), comm, lengths);
    std::size_t at = 0;
    const auto state_of = [&](std::size_t rank) {
        const auto first = all.begin() + std::ptrdiff_t(at);
        at += std::size_t(lengths[rank]);
        return std::vector<double>(first, first + std::ptrdiff_t(lengths[rank]));
    };
    Accumulator merged = Accumulator::deserialize(state_of(0));
    for (std::size_t rank = 1; rank < lengths.size(); ++rank) merged.merge(Accumulator::deserialize(state_of(rank)));
    return merged;
}

}  // namespace divergence::mpi

#endif

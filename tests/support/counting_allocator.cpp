// The counting global allocator of the test executable (support/counting_allocator.hpp).
// Every operator new of the executable goes through here: a 16-byte header keeps the size so that the
// live byte count is exact; atomics keep it thread-safe. (Eigen's own aligned buffers use malloc
// directly and are not counted.) Its own translation unit, outside the unity build: inlined into the
// tests, GCC would see the header read before a block it knows and warn falsely (-Warray-bounds,
// -Wmismatched-new-delete).

#include "support/counting_allocator.hpp"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>

namespace {

std::atomic<long long> live{0};
std::atomic<long long> peak{0};
constexpr std::size_t header = 16;

void* counted_allocate(std::size_t size)
{
    void* block = std::malloc(size + header);
    if (!block) return nullptr;
    std::memcpy(block, &size, sizeof size);
    const long long now = live += static_cast<long long>(size);
    long long seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
    return static_cast<char*>(block) + header;
}

void counted_free(void* pointer)
{
    if (!pointer) return;
    void* block = static_cast<char*>(pointer) - header;
    std::size_t size = 0;
    std::memcpy(&size, block, sizeof size);
    live -= static_cast<long long>(size);
    std::free(block);
}

}  // namespace

namespace test {
long long live_bytes() { return live.load(); }
long long peak_bytes() { return peak.load(); }
void reset_peak_bytes() { peak.store(live.load()); }
}  // namespace test

void* operator new(std::size_t size)
{
    if (void* p = counted_allocate(size)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t size)
{
    if (void* p = counted_allocate(size)) return p;
    throw std::bad_alloc();
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return counted_allocate(size); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return counted_allocate(size); }
void operator delete(void* p) noexcept { counted_free(p); }
void operator delete[](void* p) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::size_t) noexcept { counted_free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { counted_free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { counted_free(p); }

#pragma once
// The decoder's public face: one Context per guest Venus context. It knows nothing of sockets or
// processes; the worker feeds it command streams, lends it the context's shared-memory resources,
// and asks it for the memory behind blob resources.
#include "vn/decoder/resources.h"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>

namespace vn::decoder {

class ContextImpl;

enum class Mode {
    // Decode, check and track every object id, call nothing (fuzzing, benchmarks, debugging).
    Validate,
    // Run the commands on the host Vulkan driver.
    Execute,
};

// What one context has done and holds, for operators. Written by the decoder and the worker as
// they run and read at any time by other threads and, where the server maps it shared, by the
// server process: every field is a lock-free atomic (address-free, so sharing it across processes
// is well defined), and a reader must treat the values as untrusted numbers.
struct ContextCounters {
    std::atomic<std::uint64_t> commands{0};      // Venus commands decoded, context path and rings
    std::atomic<std::uint64_t> bytes{0};         // command bytes decoded from
    std::atomic<std::uint64_t> submits{0};       // command streams submitted on the context path
    std::atomic<std::uint64_t> device_memory{0}; // bytes of VkDeviceMemory held
    // Bytes of host memory held for the guest: memfd-backed device memory (the decoder) and shm
    // blob resources (the worker).
    std::atomic<std::uint64_t> host_memory{0};
    std::atomic<std::uint64_t> objects{0};        // live Vulkan objects
    std::atomic<std::uint64_t> rings{0};          // live Venus rings
    std::atomic<std::uint64_t> quota_refusals{0}; // allocations refused for a quota
    // The most each was ever at: what a context held stays readable after it let go.
    std::atomic<std::uint64_t> device_memory_peak{0};
    std::atomic<std::uint64_t> host_memory_peak{0};
    std::atomic<std::uint64_t> objects_peak{0};
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

// Per-context limits. Going over one is the Vulkan out-of-memory error of that allocation (what a
// driver out of memory returns), except rings: vkCreateRingMESA returns nothing, so a ring over
// the quota is fatal. The defaults are far above what any test or the CTS uses.
struct ContextQuotas {
    std::uint64_t device_memory = std::uint64_t{64} << 30;
    std::uint64_t host_memory = std::uint64_t{64} << 30;
    std::uint64_t objects = std::uint64_t{1} << 22;
    std::uint64_t rings = 64;
};

// Raises `peak` to at least `value`.
inline void raise_peak(std::atomic<std::uint64_t>& peak, std::uint64_t value) {
    std::uint64_t seen = peak.load(std::memory_order_relaxed);
    while (seen < value && !peak.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
    }
}

// Adds n to `counter` unless that takes it past `limit`; false (and nothing added) then. Safe
// against concurrent charges to the same counter and against n near 2^64.
inline bool try_charge(std::atomic<std::uint64_t>& counter, std::uint64_t n, std::uint64_t limit,
                       std::atomic<std::uint64_t>* peak = nullptr) {
    std::uint64_t held = counter.load(std::memory_order_relaxed);
    do {
        if (n > limit || held > limit - n)
            return false;
    } while (!counter.compare_exchange_weak(held, held + n, std::memory_order_relaxed));
    if (peak)
        raise_peak(*peak, held + n);
    return true;
}

// A charge against a counter, given back when it goes.
class QuotaCharge {
  public:
    QuotaCharge() = default;
    ~QuotaCharge() { release(); }
    QuotaCharge(QuotaCharge&& other) noexcept
        : m_counter(std::exchange(other.m_counter, nullptr)), m_bytes(other.m_bytes) {}
    QuotaCharge& operator=(QuotaCharge&& other) noexcept {
        if (this != &other) {
            release();
            m_counter = std::exchange(other.m_counter, nullptr);
            m_bytes = other.m_bytes;
        }
        return *this;
    }
    bool take(std::atomic<std::uint64_t>& counter, std::uint64_t n, std::uint64_t limit,
              std::atomic<std::uint64_t>* peak = nullptr) {
        release();
        if (!try_charge(counter, n, limit, peak))
            return false;
        m_counter = &counter;
        m_bytes = n;
        return true;
    }
    void release() {
        if (m_counter)
            m_counter->fetch_sub(m_bytes, std::memory_order_relaxed);
        m_counter = nullptr;
    }

  private:
    std::atomic<std::uint64_t>* m_counter = nullptr;
    std::uint64_t m_bytes = 0;
};

struct ContextOptions {
    Mode mode = Mode::Execute;
    // What one command may make the decoder allocate (Venus: 1 GiB).
    std::size_t arena_cap = std::size_t{1} << 30;
    // The context's shared memory (reply streams, executed streams); may be null.
    ResourceProvider* resources = nullptr;
    // Told the reason when a ring thread makes the context fatal (no submit reports that).
    std::function<void(const std::string&)> on_ring_fatal = nullptr;
    // Where the counters go (they must outlive the context); null: the context keeps its own.
    ContextCounters* counters = nullptr;
    ContextQuotas quotas{};
    // Told, one line, when an allocation is refused for a quota.
    std::function<void(const std::string&)> on_quota_refusal = nullptr;
};

// The memfd behind a device-memory object (owned by the caller) and its size.
struct MemoryBlob {
    int fd = -1;
    std::size_t size = 0;
    bool repeated = false; // exported before: refused, fd is -1
};

class Context {
  public:
    explicit Context(ContextOptions options = {});
    ~Context();
    // Ends the context's threads and host objects now, as the destructor would, and leaves the
    // rest (its memory) alone: for a process about to exit, whose memory the kernel frees. A
    // driver may have work to finish as its objects go (Mesa writes its shader cache), so they
    // must not simply vanish with the process. Nothing else may be called afterwards.
    void shut_down();
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;

    // Decodes and dispatches every command of one Venus command stream. Returns false once the
    // context is fatal (now or before); a fatal context never decodes again.
    bool submit(std::span<const std::byte> stream);

    bool is_fatal() const;
    // Makes the context fatal for a reason found outside the decoder (a bad control op): no
    // command is decoded any more, and every ring reports FATAL to the guest at once.
    void make_fatal(const std::string& reason);
    const ContextCounters& counters() const;
    // The first fatal error, one line, empty while the context is healthy.
    const std::string& fatal_reason() const;

    // Runs `destroy` unless a ring or a reply stream uses the resource (then false: destroying it
    // is fatal for the context). No command runs meanwhile, so none can start using it.
    bool release_resource(std::uint32_t resource_id, const std::function<void()>& destroy);

    // A context fence on a queue timeline (ring_idx > 0): `retire` runs, on another thread, once
    // the GPU work submitted so far on the queue bound to ring_idx has completed. False (with
    // the reason in `error`) when no queue is bound to it.
    bool submit_fence(std::uint32_t ring_idx, std::function<void()> retire, std::string& error);

    // The guest-mappable memory behind a VkDeviceMemory id (a blob resource), if there is one.
    std::optional<MemoryBlob> export_memory(std::uint64_t memory_id);

  private:
    std::unique_ptr<ContextImpl> m_impl;
};

} // namespace vn::decoder

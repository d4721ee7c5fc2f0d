#include "vn/decoder/call_queue.h"

#include <algorithm>
#include <chrono>
#include <sched.h>
#include <sys/prctl.h>
#include <system_error>

namespace vn::decoder {

namespace {

// A side that finds nothing to do first spins on the other's counter (the other is usually
// microseconds away), then yields its core for a while, then sleeps on a futex: calls come in
// bursts (a command buffer's recording) and a futex wake costs a few microseconds.
constexpr int pause_spins = 2000;
constexpr int yield_spins = 64;
constexpr auto spin_budget = std::chrono::microseconds(50);

bool reached(std::uint32_t count, std::uint32_t target) {
    return static_cast<std::int32_t>(count - target) >= 0;
}

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

} // namespace

CallQueue::~CallQueue() {
    if (!m_thread.joinable())
        return;
    // A slot without a call tells the thread to stop once everything before it has run.
    Slot* stop = claim();
    stop->run = nullptr;
    ++m_written;
    publish();
    m_thread.join();
}

CallQueue::Slot* CallQueue::claim() {
    if (!m_thread.joinable()) {
        if (m_no_thread)
            return nullptr;
        try {
            m_slots = std::make_unique<std::array<Slot, slot_count>>();
            m_thread = std::thread([this] { run(); });
        } catch (const std::system_error&) {
            m_no_thread = true;
            m_slots.reset();
            return nullptr;
        }
    }
    const std::uint32_t free_from = m_written - slot_count + 1;
    if (!reached(m_consumed_seen, free_from)) {
        m_consumed_seen = m_consumed.load(std::memory_order_acquire);
        if (!reached(m_consumed_seen, free_from)) {
            publish(); // the thread may be waiting for the very calls that fill the queue
            // Room for a batch, not for one call: refilled one slot at a time, a full queue has
            // each side read the other's counter after every call, and each such read moves a
            // cache line between the two cores while the driver's thread, the bottleneck then,
            // waits for it.
            wait_consumed(free_from + refill_batch - 1);
            m_consumed_seen = m_consumed.load(std::memory_order_acquire);
        }
    }
    return &(*m_slots)[m_written % slot_count];
}

void CallQueue::publish() {
    m_produced.store(m_written, std::memory_order_seq_cst);
    if (m_consumer_sleeping.load(std::memory_order_seq_cst))
        m_produced.notify_one();
}

void CallQueue::wait_for(std::uint32_t mark) {
    if (reached(m_consumed_seen, mark))
        return;
    flush();
    if (!reached(m_consumed.load(std::memory_order_acquire), mark))
        wait_consumed(mark);
    m_consumed_seen = m_consumed.load(std::memory_order_acquire);
}

void CallQueue::wait_consumed(std::uint32_t target) {
    const auto start = std::chrono::steady_clock::now();
    for (int spins = 0;; ++spins) {
        std::uint32_t consumed = m_consumed.load(std::memory_order_acquire);
        if (reached(consumed, target))
            return;
        if (spins < pause_spins) {
            cpu_relax();
            continue;
        }
        if (spins < pause_spins + yield_spins ||
            std::chrono::steady_clock::now() - start < spin_budget) {
            ::sched_yield();
            continue;
        }
        m_producer_waiting.store(true, std::memory_order_seq_cst);
        consumed = m_consumed.load(std::memory_order_seq_cst);
        if (!reached(consumed, target))
            m_consumed.wait(consumed, std::memory_order_acquire);
        m_producer_waiting.store(false, std::memory_order_relaxed);
    }
}

void CallQueue::run() {
    ::prctl(PR_SET_NAME, "vn-driver", 0, 0, 0);
    std::uint32_t consumed = 0;
    std::chrono::steady_clock::time_point idle_since;
    for (int idle = 0;;) {
        const std::uint32_t produced = m_produced.load(std::memory_order_acquire);
        if (produced == consumed) {
            if (idle < pause_spins) {
                cpu_relax();
            } else if (idle < pause_spins + yield_spins) {
                if (idle == pause_spins)
                    idle_since = std::chrono::steady_clock::now();
                ::sched_yield();
            } else if (std::chrono::steady_clock::now() - idle_since < spin_budget) {
                ::sched_yield();
            } else {
                m_consumer_sleeping.store(true, std::memory_order_seq_cst);
                if (m_produced.load(std::memory_order_seq_cst) == consumed)
                    m_produced.wait(consumed, std::memory_order_acquire);
                m_consumer_sleeping.store(false, std::memory_order_relaxed);
            }
            idle = std::min(idle + 1, pause_spins + yield_spins);
            continue;
        }
        while (consumed != produced) {
            // The producer wrote the next slots on its own core: ask for them before they are
            // needed, so that their transfers overlap the driver's work on this one. Only
            // published slots, or the line would be taken from the producer while it writes.
            if (static_cast<std::int32_t>(produced - consumed) > prefetch_distance) {
                const auto* ahead = reinterpret_cast<const char*>(
                    &(*m_slots)[(consumed + prefetch_distance) % slot_count]);
                for (int line = 0; line < prefetch_lines; ++line)
                    __builtin_prefetch(ahead + 64 * line);
            }
            Slot& slot = (*m_slots)[consumed % slot_count];
            if (!slot.run) {
                m_consumed.store(consumed + 1, std::memory_order_seq_cst);
                return;
            }
            slot.run(slot.storage);
            ++consumed;
            // Told in batches (and at the end of each): the producer reads this counter only when
            // it runs out of slots, and every store it has read costs a cache-line transfer.
            if (consumed % consumed_batch == 0)
                m_consumed.store(consumed, std::memory_order_release);
        }
        m_consumed.store(consumed, std::memory_order_release);
        // The producer sleeps only after it has spun a while, so telling it once per batch is
        // enough.
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (m_producer_waiting.load(std::memory_order_relaxed))
            m_consumed.notify_one();
        idle = 0;
    }
}

} // namespace vn::decoder

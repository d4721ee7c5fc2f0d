#pragma once
// Driver calls of recorded commands (vkCmd*), run in order on a thread of their own, so that
// decoding and checking the next command overlaps the driver's recording of this one. On a ring
// full of vkCmd* the driver's half of the work and ours each take about half of one core; one
// thread doing both is the bottleneck of a guest's recording.
//
// What keeps this equivalent to calling the driver in place (the executor holds to it):
// - Only commands that record into a command buffer are queued (no reply, no object made or
//   destroyed, nothing the guest reads back); their effects are seen only through a later
//   vkQueueSubmit or vkEndCommandBuffer, and every such command drains the queue first.
// - Every other command, from any source of the context, drains the queue before it runs, so
//   driver calls never overlap and stay in the order the guest sent them.
// - A queued call captures its arguments by value; what they point at (the decoder's arena, the
//   ring's private copy of its commands) is kept until the queue has been drained.
//
// One producer at a time (the holder of the context's dispatch lock), one consumer thread,
// started at the first queued call.
#include "vn/protocol/arena.h"

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <thread>
#include <type_traits>
#include <utility>

namespace vn::decoder {

class CallQueue {
  public:
    // Enough queued calls for the consumer never to wait on a busy producer, few enough that the
    // slots (touched only as they are used) stay a few KiB of a worker.
    static constexpr std::uint32_t slot_count = 64;
    static constexpr std::size_t slot_bytes = 240;
    // Calls are handed to the thread this many at a time (and at every flush and wait): each
    // hand-over moves a cache line between the two cores.
    static constexpr std::uint32_t publish_batch = 16;
    // A producer that finds the queue full waits for this many free slots, and the thread tells
    // how far it got once per this many calls (call_queue.cpp says why).
    static constexpr std::uint32_t refill_batch = 16;
    static constexpr std::uint32_t consumed_batch = 8;
    // How many slots ahead of the running call the thread prefetches, and how many of each
    // slot's cache lines: the first holds the call and 48 bytes of its arguments, and the
    // arguments of the commonest recorded commands (a barrier's, a descriptor set binding's)
    // reach into the second.
    static constexpr std::int32_t prefetch_distance = 4;
    static constexpr int prefetch_lines = 2;

    CallQueue() = default;
    // Runs every queued call, then joins the thread.
    ~CallQueue();
    CallQueue(const CallQueue&) = delete;
    CallQueue& operator=(const CallQueue&) = delete;

    // Queues `call` behind the earlier ones. A callable too large for a slot runs here, after
    // the queue has drained, which keeps the order.
    template <typename F>
    void push(F&& call) {
        using Fn = std::decay_t<F>;
        static_assert(std::is_trivially_copyable_v<Fn> && std::is_trivially_destructible_v<Fn>,
                      "a queued call holds plain copies of decoded arguments");
        if constexpr (sizeof(Fn) > slot_bytes || alignof(Fn) > alignof(std::max_align_t)) {
            drain();
            call();
        } else {
            Slot* slot = claim();
            if (!slot) {
                call(); // no thread could be started: nothing is queued, so this is in order
                return;
            }
            ::new (static_cast<void*>(slot->storage)) Fn(std::forward<F>(call));
            slot->run = [](void* p) {
                (*std::launder(static_cast<Fn*>(p)))();
            };
            if (++m_written - m_produced.load(std::memory_order_relaxed) >= publish_batch)
                publish();
        }
    }

    // Lets the thread run every call queued so far (they are handed over in batches).
    void flush() {
        if (m_written != m_produced.load(std::memory_order_relaxed))
            publish();
    }
    // Returns once every call queued so far has run. Producer side. Inline: every command that is
    // not queued calls it, nearly always with nothing queued.
    void drain() {
        if (m_consumed_seen != m_written)
            wait_for(m_written);
    }
    // How many calls have been queued: wait_for(mark()) returns once those have run.
    std::uint32_t mark() const { return m_written; }
    void wait_for(std::uint32_t mark);

  private:
    // On cache lines of its own, so that the lines a call's arguments occupy are known
    // (run() prefetches them).
    struct alignas(64) Slot {
        void (*run)(void*) = nullptr;
        alignas(std::max_align_t) std::byte storage[slot_bytes];
    };

    // The next free slot, once the calls it held have run; null when the thread cannot start
    // (the worker's thread limit), and from then on.
    Slot* claim();
    // Hands every filled slot to the thread.
    void publish();
    void run();
    // Waits until m_consumed reaches `target` (counts wrap).
    void wait_consumed(std::uint32_t target);

    std::unique_ptr<std::array<Slot, slot_count>> m_slots;
    std::thread m_thread;
    bool m_no_thread = false;
    // Each counter on a line of its own, written by one side: the other side reads it only when
    // it has to (the producer keeps what it last saw of m_consumed).
    alignas(64) std::atomic<std::uint32_t> m_produced{0};
    std::uint32_t m_written = 0; // slots filled; m_produced of them handed over
    std::uint32_t m_consumed_seen = 0;
    alignas(64) std::atomic<std::uint32_t> m_consumed{0};
    // Set only around a futex wait, so read-mostly.
    alignas(64) std::atomic<bool> m_consumer_sleeping{false};
    std::atomic<bool> m_producer_waiting{false};
};

// The arena of a command source while its decoded arguments may be pointed at by queued calls:
// two arenas take turns. Once the one in use has grown past a bound, the other one is reset and
// used, after the calls queued while it was last in use have run (long since, nearly always). So
// arguments live until their call has run, memory stays bounded, and the decoder never waits for
// the whole queue the way a single arena, reset only when drained, would make it.
class QueuedArenas {
  public:
    static constexpr std::size_t turn_bytes = 16 * 1024;

    protocol::Arena& current() { return m_arenas[m_current]; }
    // After each command: `queued` is whether its driver call went to `calls`. A command that was
    // not queued ran after the queue drained (call_queue.h), so then nothing points anywhere.
    [[gnu::always_inline]] void after_command(CallQueue& calls, bool queued) {
        if (!queued && !m_held_any) [[likely]] {
            current().reset();
            return;
        }
        after_held(calls, queued);
    }
    // After the queue has drained: both arenas are free.
    void release() {
        m_held[0] = m_held[1] = m_held_any = false;
        current().reset();
    }

  private:
    void after_held(CallQueue& calls, bool queued) {
        if (!queued) {
            calls.drain();
            release();
            return;
        }
        m_held[m_current] = m_held_any = true;
        if (current().used() > turn_bytes) [[unlikely]] {
            m_marks[m_current] = calls.mark();
            m_current ^= 1;
            if (m_held[m_current])
                calls.wait_for(m_marks[m_current]);
            m_held[m_current] = false;
            current().reset();
        }
    }

    protocol::Arena m_arenas[2];
    std::uint32_t m_marks[2] = {0, 0};
    bool m_held[2] = {false, false};
    bool m_held_any = false;
    unsigned m_current = 0;
};

} // namespace vn::decoder

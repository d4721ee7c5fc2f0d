// The driver-call queue: calls run in the order they were queued, on one thread, and every wait
// returns only once the calls before it have run, whether the queue is empty, full, or refilled
// in batches while the thread is slower than the producer (the case a fast decoder and a slow
// driver make).
#include "vn/decoder/call_queue.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

using vn::decoder::CallQueue;

namespace {

// What the calls record: written by the queue's thread only, read after a wait.
struct Log {
    std::vector<std::uint32_t> order;
    std::atomic<std::uint32_t> ran{0};
};

void spin_for(std::chrono::nanoseconds d) {
    const auto until = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < until) {
    }
}

} // namespace

TEST_CASE("call queue: calls run in order, through many refills of a full queue", "[call_queue]") {
    Log log;
    log.order.reserve(20000);
    const std::uint32_t total = 20 * CallQueue::slot_count + 7;
    {
        CallQueue calls;
        for (std::uint32_t i = 0; i < total; ++i) {
            Log* l = &log;
            // A slow call now and then keeps the queue full, so the producer waits for room.
            const bool slow = i % 97 == 0;
            calls.push([l, i, slow] {
                if (slow)
                    spin_for(std::chrono::microseconds(50));
                l->order.push_back(i);
                l->ran.fetch_add(1, std::memory_order_release);
            });
            // A wait in the middle must see every call before it, and none need come after.
            if (i == total / 2) {
                calls.drain();
                REQUIRE(log.ran.load(std::memory_order_acquire) == i + 1);
            }
        }
        const std::uint32_t mark = calls.mark();
        calls.wait_for(mark);
        REQUIRE(log.ran.load(std::memory_order_acquire) == total);
    }
    REQUIRE(log.order.size() == total);
    for (std::uint32_t i = 0; i < total; ++i)
        REQUIRE(log.order[i] == i);
}

TEST_CASE("call queue: a drain returns after calls fewer than a batch", "[call_queue]") {
    // Fewer calls than the hand-over batch are not yet visible to the thread; drain() must hand
    // them over itself, and the thread must say it ran them though it ran fewer than its own
    // reporting batch.
    for (std::uint32_t n = 1; n < CallQueue::publish_batch + 2; ++n) {
        Log log;
        CallQueue calls;
        for (std::uint32_t i = 0; i < n; ++i) {
            Log* l = &log;
            calls.push([l, i] {
                l->order.push_back(i);
                l->ran.fetch_add(1, std::memory_order_release);
            });
        }
        calls.drain();
        REQUIRE(log.ran.load(std::memory_order_acquire) == n);
    }
}

TEST_CASE("call queue: the destructor runs what is still queued", "[call_queue]") {
    Log log;
    {
        CallQueue calls;
        for (std::uint32_t i = 0; i < 3 * CallQueue::slot_count; ++i) {
            Log* l = &log;
            calls.push([l, i] {
                spin_for(std::chrono::microseconds(1));
                l->order.push_back(i);
            });
        }
    }
    REQUIRE(log.order.size() == 3 * CallQueue::slot_count);
    REQUIRE(log.order.back() == 3 * CallQueue::slot_count - 1);
}

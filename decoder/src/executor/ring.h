#pragma once
// Venus rings (VK_MESA_venus_protocol): command queues in guest shared memory, each drained by a
// thread of its own (virglrenderer vkr_ring.c). The guest writes commands into a wrapping buffer
// and publishes a tail; the ring thread decodes them through the context's executor, one command
// at a time under the context's dispatch lock, and publishes how far it got in head. Head, tail
// and status are u32 atomics in memory the guest can scribble on at any time, so every value read
// from there is checked before it is used.
#include "executor.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <thread>
#include <vector>

namespace vn::decoder {

// Where the parts of one ring lie in its resource, checked against it.
struct RingLayout {
    std::uint32_t resource_id = 0;
    std::uint32_t* head = nullptr;
    std::uint32_t* tail = nullptr;
    std::uint32_t* status = nullptr;
    std::byte* buffer = nullptr;
    std::uint32_t buffer_size = 0; // a power of two
    std::byte* extra = nullptr;
    std::size_t extra_size = 0;
};

class Ring {
  public:
    static constexpr std::uint32_t max_buffer_size = 16u << 20; // VKR_RING_BUFFER_MAX_SIZE
    // An empty ring yields (sched_yield: next to nothing on an idle core, the core to whoever
    // needs it on a busy one) for at least `yield_spins` rounds and until `spin_budget` has passed
    // since the last command: a guest waiting on a reply writes its next command within
    // microseconds, and a sleep costs tens of them, which is what a round trip's tail latency
    // was made of. The budget bounds what an idle ring spends before it backs off. Then it
    // sleeps, starting here and doubling up to the cap (vkr_ring.c relax), until idleTimeout
    // sends it to sleep on IDLE. The ring thread's timer slack is `timer_slack_ns`.
    static constexpr std::chrono::microseconds spin_budget{200};
    static constexpr unsigned long timer_slack_ns = 1000;
    static constexpr int yield_spins = 16;
    // Commands run under one hold of the dispatch lock (Ring::execute says why): bounds how long
    // the context's other sources wait for a busy ring, about a microsecond per small command.
    static constexpr std::uint32_t commands_per_lock = 32;
    static constexpr std::chrono::microseconds first_sleep{10};
    static constexpr std::chrono::microseconds max_sleep{1000};

    // `priority`: VkRingPriorityInfoMESA, a nice value for the ring thread.
    Ring(Executor& executor, std::uint64_t id, const RingLayout& layout,
         std::chrono::nanoseconds idle_timeout, std::optional<std::int32_t> priority);
    // Stops and joins the thread; the caller must not hold the dispatch lock.
    ~Ring();
    Ring(const Ring&) = delete;
    Ring& operator=(const Ring&) = delete;

    void start();

    // The rest is called with the dispatch lock held.
    // Wakes the ring if it sleeps idle (vkNotifyRingMESA).
    void notify();
    // Asks the thread to stop at its next command boundary or wait.
    void request_stop();
    void submit_virtqueue_seqno(std::uint64_t seqno);
    std::uint64_t virtqueue_seqno() const { return m_virtqueue_seqno; }
    bool stopping() const { return m_stop.load(std::memory_order_relaxed); }
    bool dead() const { return m_dead; }
    // How far the ring got: ours, not the guest-writable copy in shared memory.
    std::uint32_t head() const { return m_head; }
    std::uint32_t tail() const;
    // vkWaitRingSeqnoMESA: the context waits for head to reach `seqno`; the ring fails the context
    // when it catches up with its tail short of that.
    void set_context_wait(std::optional<std::uint32_t> seqno);
    const RingLayout& layout() const { return m_layout; }
    DispatchSource& source() { return m_source; }
    std::uint64_t id() const { return m_id; }
    // The monitor's heartbeat: ORs ALIVE into status (any thread).
    void report_alive();
    // ORs FATAL into status: the context is dead (any thread).
    void report_fatal();

  private:
    void run();
    // Returns after new tail, a notification or a stop request.
    void sleep_idle(std::uint32_t cur);
    // Runs the n bytes at cur; false on a fatal error.
    bool execute(std::uint32_t cur, std::uint32_t n);
    // Marks the ring and the context fatal; the thread then exits.
    void fail(std::unique_lock<std::mutex>& lock, const std::string& reason);
    void set_status_bits(std::uint32_t bits);
    void clear_status_bits(std::uint32_t bits);

    Executor& m_executor;
    const std::uint64_t m_id;
    const RingLayout m_layout;
    const std::chrono::nanoseconds m_idle_timeout;
    const std::optional<std::int32_t> m_priority;
    DispatchSource m_source;
    // A contiguous copy of a batch of commands that wraps around the end of the buffer. As large
    // as the ring, but never zero-filled: only the bytes of the largest such batch so far become
    // resident.
    std::unique_ptr<std::byte[]> m_commands;
    // Decoded arguments, which queued driver calls point at until they have run.
    QueuedArenas m_arenas;
    std::atomic<bool> m_stop{false};
    // Guarded by the dispatch lock.
    bool m_notified = false;
    bool m_dead = false;
    std::uint64_t m_virtqueue_seqno = 0;
    std::uint32_t m_head = 0;
    std::optional<std::uint32_t> m_context_wait;
    std::atomic<bool> m_context_waiting{false};
    std::thread m_thread;
};

// A context's rings by guest id, and the monitor thread that keeps the ALIVE bit of monitored
// rings set (one per context, as in virglrenderer).
class RingSet {
  public:
    RingSet() = default;
    // Stops the monitor, then every ring. The caller must not hold the dispatch lock.
    ~RingSet();

    Ring* find(std::uint64_t id);
    // Dispatch lock held.
    bool contains(std::uint64_t id) const { return m_rings.contains(id); }
    void add(std::unique_ptr<Ring> ring, std::optional<std::uint32_t> monitor_period_us);
    std::unique_ptr<Ring> remove(std::uint64_t id);
    bool uses_resource(std::uint32_t resource_id) const;
    std::size_t size() const { return m_rings.size(); }
    // FATAL in the status of every ring. Dispatch lock held.
    void report_fatal();
    // Every ring out of the set, for stopping without the lock.
    std::map<std::uint64_t, std::unique_ptr<Ring>> take_all();

  private:
    void monitor();
    void stop_monitor();

    std::map<std::uint64_t, std::unique_ptr<Ring>> m_rings;
    // The monitor has its own lock: it must run while a ring holds the dispatch lock for a long
    // command, which is exactly when the guest needs to see the ring alive.
    std::mutex m_monitor_mutex;
    std::condition_variable m_monitor_cv;
    std::vector<Ring*> m_monitored;
    std::chrono::microseconds m_period{0};
    bool m_monitor_stop = false;
    std::thread m_monitor;
};

// Waits for the GPU work behind context fences on queue timelines, in submission order, and
// retires each fence when its work is done (virglrenderer's per-queue sync thread).
class FenceThread {
  public:
    FenceThread();
    // Waits for every pending fence, retires it, and joins.
    ~FenceThread();
    FenceThread(const FenceThread&) = delete;
    FenceThread& operator=(const FenceThread&) = delete;

    struct Pending {
        const gen::DeviceDispatch* dispatch;
        VkDevice device;
        VkFence fence;
        std::function<void()> retire;
    };
    void push(Pending p);
    // Returns once no fence of `device` is pending (before the device is destroyed).
    void drain(VkDevice device);

  private:
    void run();

    std::mutex m_mutex;
    std::condition_variable m_cv;
    std::vector<Pending> m_queue;
    VkDevice m_in_flight = VK_NULL_HANDLE;
    bool m_stop = false;
    std::thread m_thread;
};

} // namespace vn::decoder

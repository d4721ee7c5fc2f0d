// Rings, their threads and monitor, the commands that manage them, and the serialization of
// every dispatch source of a context into one executor.
#include "ring.h"

#include "memory.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>

namespace vn::decoder {

using protocol::DecodeResult;

namespace {

// Wrap-aware "a has reached b" for free-running u32 seqnos.
bool reached(std::uint32_t a, std::uint32_t b) {
    return static_cast<std::int32_t>(a - b) >= 0;
}

std::string ring_name(std::uint64_t id) {
    std::array<char, 32> buf{};
    std::snprintf(buf.data(), buf.size(), "ring 0x%llx", static_cast<unsigned long long>(id));
    return buf.data();
}

std::atomic_ref<std::uint32_t> word(std::uint32_t* p) {
    return std::atomic_ref<std::uint32_t>(*p);
}

} // namespace

const std::array<bool, gen::command_type_count> Executor::queued_commands = [] {
    auto out = gen::recorded_commands;
    out[static_cast<std::size_t>(gen::CommandType::BeginCommandBuffer)] = true;
    out[static_cast<std::size_t>(gen::CommandType::EndCommandBuffer)] = true;
    return out;
}();

// ---- Dispatch -------------------------------------------------------------------------------

DecodeResult Executor::dispatch(DispatchSource& source, std::unique_lock<std::mutex>& lock,
                                protocol::Decoder& d) {
    // A context that failed on another source decodes nothing more on any.
    if (m_fatal->is_fatal())
        return DecodeResult::Fatal;
    begin_dispatch(source, lock);
    bool queued = false;
    const DecodeResult r = run_command(d, source.ring != nullptr, queued);
    publish_object_count();
    end_dispatch(source, 1, r);
    return r;
}

void Executor::publish_object_count_changed(std::size_t objects) {
    m_objects_published = objects;
    m_counters->objects.store(objects, std::memory_order_relaxed);
    raise_peak(m_counters->objects_peak, objects);
}

void Executor::wait_dispatch(const std::function<bool()>& done) {
    DispatchSource* self = m_source;
    m_dispatch_cv.wait(*self->lock, done);
    // Other sources ran meanwhile and left their own mark.
    m_source = self;
}

DecodeResult Executor::context_only(protocol::Decoder& d, const char* command) {
    if (m_source->ring)
        return d.in.fail(std::string(command) + " is not allowed on a ring (" +
                         ring_name(m_source->ring->id()) + ")");
    // Waiting needs the dispatch lock to give up; a caller that dispatched without one (a
    // single-threaded test harness) cannot have rings either.
    if (!m_source->lock)
        return d.in.fail(std::string(command) + " outside a locked dispatch");
    return DecodeResult::Ok;
}

bool Executor::resource_in_use(std::uint32_t resource_id) const {
    if (m_context_source.reply_stream.data && m_context_source.reply_resource == resource_id)
        return true;
    // Device memory imported from the resource: the driver reads its mapping.
    for (const auto& [id, entry] : m_objects.table<VkDeviceMemory>())
        if (static_cast<const MemoryState*>(entry.state.get())->imported_resource == resource_id)
            return true;
    return m_rings && m_rings->uses_resource(resource_id);
}

void Executor::report_fatal_to_rings() {
    if (m_rings)
        m_rings->report_fatal();
}

void Executor::stop_rings() {
    if (!m_rings)
        return;
    std::map<std::uint64_t, std::unique_ptr<Ring>> rings;
    {
        std::lock_guard lock(m_dispatch_mutex);
        rings = m_rings->take_all();
        for (auto& [id, ring] : rings)
            ring->request_stop();
        m_dispatch_cv.notify_all();
    }
    rings.clear(); // joins, without the lock: a ring may be waiting for it
    m_rings.reset();
    m_counters->rings.store(0, std::memory_order_relaxed);
}

// ---- Ring commands --------------------------------------------------------------------------

DecodeResult Executor::on_vkCreateRingMESA(protocol::Decoder& d, gen::CreateRingMESAArgs& a) {
    VN_TRY(context_only(d, "vkCreateRingMESA"));
    if (!a.pCreateInfo)
        return d.in.fail("vkCreateRingMESA without pCreateInfo");
    const std::string name = ring_name(a.ring);
    if (m_rings && m_rings->contains(a.ring))
        return d.in.fail("vkCreateRingMESA: " + name + " exists");
    // Each ring is a thread and a copy of its buffer. vkCreateRingMESA returns nothing, so a ring
    // over the quota cannot be refused softly: the context ends, saying why.
    if (m_rings && m_rings->size() >= m_quotas.rings)
        return d.in.fail("vkCreateRingMESA: " + name + " is over the context's quota of " +
                         std::to_string(m_quotas.rings) + " rings");
    const VkRingCreateInfoMESA& info = *a.pCreateInfo;

    std::optional<std::uint32_t> monitor_period;
    std::optional<std::int32_t> priority;
    for (auto* n = static_cast<const VkBaseInStructure*>(info.pNext); n; n = n->pNext) {
        if (n->sType == VK_STRUCTURE_TYPE_RING_MONITOR_INFO_MESA) {
            const auto* m = reinterpret_cast<const VkRingMonitorInfoMESA*>(n);
            if (m->maxReportingPeriodMicroseconds == 0)
                return d.in.fail("vkCreateRingMESA: " + name + " has a monitor period of 0");
            monitor_period = m->maxReportingPeriodMicroseconds;
        } else if (n->sType == VK_STRUCTURE_TYPE_RING_PRIORITY_INFO_MESA) {
            priority = reinterpret_cast<const VkRingPriorityInfoMESA*>(n)->priority;
        } else {
            return d.in.fail("vkCreateRingMESA: unexpected structure in the pNext chain");
        }
    }

    ShmRegion window;
    VN_TRY(shm_window(d, info.resourceId, info.offset, info.size, window));
    if (info.offset % 4 != 0)
        return d.in.fail("vkCreateRingMESA: " + name + " starts at an unaligned offset");

    struct Part {
        const char* what;
        std::size_t offset;
        std::size_t size;
    };
    const std::array<Part, 5> parts{{{"head", info.headOffset, 4},
                                     {"tail", info.tailOffset, 4},
                                     {"status", info.statusOffset, 4},
                                     {"buffer", info.bufferOffset, info.bufferSize},
                                     {"extra", info.extraOffset, info.extraSize}}};
    if (info.bufferSize == 0 || !std::has_single_bit(info.bufferSize) ||
        info.bufferSize > Ring::max_buffer_size)
        return d.in.fail("vkCreateRingMESA: " + name + " buffer size " +
                         std::to_string(info.bufferSize) +
                         " is not a power of two of at most 16 MiB");
    for (const Part& p : parts) {
        if (p.offset > info.size || p.size > info.size - p.offset)
            return d.in.fail("vkCreateRingMESA: " + name + " " + p.what + " [" +
                             std::to_string(p.offset) + ", +" + std::to_string(p.size) +
                             ") lies outside the ring's " + std::to_string(info.size) + " bytes");
        if (p.offset % 4 != 0 || p.size % 4 != 0)
            return d.in.fail("vkCreateRingMESA: " + name + " " + p.what + " is not 4-byte aligned");
    }
    for (std::size_t i = 0; i < parts.size(); ++i)
        for (std::size_t j = i + 1; j < parts.size(); ++j) {
            const Part& p = parts[i];
            const Part& q = parts[j];
            if (p.size && q.size && p.offset < q.offset + q.size && q.offset < p.offset + p.size)
                return d.in.fail("vkCreateRingMESA: " + name + " " + p.what + " overlaps " +
                                 q.what);
        }

    RingLayout layout;
    layout.resource_id = info.resourceId;
    layout.head = reinterpret_cast<std::uint32_t*>(window.data + info.headOffset);
    layout.tail = reinterpret_cast<std::uint32_t*>(window.data + info.tailOffset);
    layout.status = reinterpret_cast<std::uint32_t*>(window.data + info.statusOffset);
    layout.buffer = window.data + info.bufferOffset;
    layout.buffer_size = static_cast<std::uint32_t>(info.bufferSize);
    layout.extra = window.data + info.extraOffset;
    layout.extra_size = info.extraSize;
    if (word(layout.head).load(std::memory_order_acquire) != 0 ||
        word(layout.status).load(std::memory_order_acquire) != 0)
        return d.in.fail("vkCreateRingMESA: " + name + " head or status is not 0 at creation");

    // Nanoseconds (compared with CLOCK_MONOTONIC); capped so that adding it cannot overflow.
    const auto idle = std::chrono::nanoseconds(
        static_cast<std::int64_t>(std::min<std::uint64_t>(info.idleTimeout, 1ull << 50)));
    if (!m_rings)
        m_rings = std::make_unique<RingSet>();
    auto ring = std::make_unique<Ring>(*this, a.ring, layout, idle, priority);
    Ring* started = ring.get();
    m_rings->add(std::move(ring), monitor_period);
    m_counters->rings.store(m_rings->size(), std::memory_order_relaxed);
    started->start();
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkDestroyRingMESA(protocol::Decoder& d, gen::DestroyRingMESAArgs& a) {
    VN_TRY(context_only(d, "vkDestroyRingMESA"));
    std::unique_ptr<Ring> ring = m_rings ? m_rings->remove(a.ring) : nullptr;
    if (!ring)
        return d.in.fail("vkDestroyRingMESA: " + ring_name(a.ring) + " does not exist");
    m_counters->rings.store(m_rings->size(), std::memory_order_relaxed);
    ring->request_stop();
    m_dispatch_cv.notify_all();
    DispatchSource* self = m_source;
    // The ring may be waiting for the lock to finish its command: join without it.
    self->lock->unlock();
    ring.reset();
    self->lock->lock();
    m_source = self;
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkNotifyRingMESA(protocol::Decoder& d, gen::NotifyRingMESAArgs& a) {
    VN_TRY(context_only(d, "vkNotifyRingMESA"));
    Ring* ring = m_rings ? m_rings->find(a.ring) : nullptr;
    if (!ring)
        return d.in.fail("vkNotifyRingMESA: " + ring_name(a.ring) + " does not exist");
    ring->notify();
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkWriteRingExtraMESA(protocol::Decoder& d,
                                               gen::WriteRingExtraMESAArgs& a) {
    VN_TRY(context_only(d, "vkWriteRingExtraMESA"));
    Ring* ring = m_rings ? m_rings->find(a.ring) : nullptr;
    if (!ring)
        return d.in.fail("vkWriteRingExtraMESA: " + ring_name(a.ring) + " does not exist");
    const RingLayout& l = ring->layout();
    if (a.offset % 4 != 0 || a.offset > l.extra_size || l.extra_size - a.offset < 4)
        return d.in.fail("vkWriteRingExtraMESA: offset " + std::to_string(a.offset) +
                         " is outside the extra region of " + ring_name(a.ring));
    word(reinterpret_cast<std::uint32_t*>(l.extra + a.offset))
        .store(a.value, std::memory_order_release);
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkSubmitVirtqueueSeqnoMESA(protocol::Decoder& d,
                                                     gen::SubmitVirtqueueSeqnoMESAArgs& a) {
    VN_TRY(context_only(d, "vkSubmitVirtqueueSeqnoMESA"));
    Ring* ring = m_rings ? m_rings->find(a.ring) : nullptr;
    if (!ring)
        return d.in.fail("vkSubmitVirtqueueSeqnoMESA: " + ring_name(a.ring) + " does not exist");
    ring->submit_virtqueue_seqno(a.seqno);
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkWaitVirtqueueSeqnoMESA(protocol::Decoder& d,
                                                   gen::WaitVirtqueueSeqnoMESAArgs& a) {
    Ring* ring = m_source->ring;
    if (!ring)
        return d.in.fail("vkWaitVirtqueueSeqnoMESA is only allowed on a ring");
    const std::uint64_t seqno = a.seqno;
    wait_dispatch([&] {
        return ring->virtqueue_seqno() >= seqno || ring->stopping() || m_fatal->is_fatal();
    });
    // A ring stopped while it waits leaves at its next command boundary, not fatally.
    return m_fatal->is_fatal() ? DecodeResult::Fatal : DecodeResult::Ok;
}

DecodeResult Executor::on_vkWaitRingSeqnoMESA(protocol::Decoder& d, gen::WaitRingSeqnoMESAArgs& a) {
    VN_TRY(context_only(d, "vkWaitRingSeqnoMESA"));
    Ring* ring = m_rings ? m_rings->find(a.ring) : nullptr;
    if (!ring)
        return d.in.fail("vkWaitRingSeqnoMESA: " + ring_name(a.ring) + " does not exist");
    // Head and tail are u32 on the wire; the guest's u64 seqno wraps with them.
    const auto target = static_cast<std::uint32_t>(a.seqno);
    ring->notify();
    ring->set_context_wait(target);
    wait_dispatch(
        [&] { return reached(ring->head(), target) || ring->dead() || m_fatal->is_fatal(); });
    ring->set_context_wait(std::nullopt);
    if (m_fatal->is_fatal())
        return DecodeResult::Fatal;
    if (!reached(ring->head(), target))
        return d.in.fail("vkWaitRingSeqnoMESA: " + ring_name(a.ring) + " died before seqno " +
                         std::to_string(target));
    return DecodeResult::Ok;
}

// ---- Ring -----------------------------------------------------------------------------------

Ring::Ring(Executor& executor, std::uint64_t id, const RingLayout& layout,
           std::chrono::nanoseconds idle_timeout, std::optional<std::int32_t> priority)
    : m_executor(executor), m_id(id), m_layout(layout), m_idle_timeout(idle_timeout),
      m_priority(priority),
      m_commands(std::make_unique_for_overwrite<std::byte[]>(layout.buffer_size)) {
    m_source.ring = this;
}

Ring::~Ring() {
    if (m_thread.joinable()) {
        {
            std::lock_guard lock(m_executor.dispatch_mutex());
            m_stop = true;
            m_executor.wake_all();
        }
        m_thread.join();
    }
}

void Ring::start() {
    m_thread = std::thread([this] { run(); });
}

void Ring::notify() {
    m_notified = true;
    m_executor.wake_all();
}

void Ring::request_stop() {
    m_stop = true;
}

void Ring::submit_virtqueue_seqno(std::uint64_t seqno) {
    m_virtqueue_seqno = seqno;
    notify();
}

std::uint32_t Ring::tail() const {
    return word(m_layout.tail).load(std::memory_order_acquire);
}

void Ring::set_context_wait(std::optional<std::uint32_t> seqno) {
    m_context_wait = seqno;
    m_context_waiting = seqno.has_value();
}

void Ring::report_alive() {
    set_status_bits(VK_RING_STATUS_ALIVE_BIT_MESA);
}

void Ring::set_status_bits(std::uint32_t bits) {
    // seq_cst: IDLE must be visible before the tail is read again, or a guest that stored its
    // tail and then saw no IDLE would never notify a ring that went to sleep.
    word(m_layout.status).fetch_or(bits, std::memory_order_seq_cst);
}

void Ring::clear_status_bits(std::uint32_t bits) {
    word(m_layout.status).fetch_and(~bits, std::memory_order_seq_cst);
}

void Ring::report_fatal() {
    set_status_bits(VK_RING_STATUS_FATAL_BIT_MESA);
}

void Ring::fail(std::unique_lock<std::mutex>&, const std::string& reason) {
    (void)m_executor.fatal_state().fail(ring_name(m_id) + ": " + reason);
    // Every ring of the context, not only this one: the guest may be waiting on another.
    m_executor.report_fatal_to_rings();
    m_executor.report_async_fatal();
}

void Ring::sleep_idle(std::uint32_t cur) {
    std::unique_lock lock(m_executor.dispatch_mutex());
    m_executor.dispatch_cv().wait(lock, [&] { return m_notified || m_stop || tail() != cur; });
    m_notified = false;
}

bool Ring::execute(std::uint32_t cur, std::uint32_t n) {
    const std::uint32_t mask = m_layout.buffer_size - 1;
    const std::uint32_t start = cur & mask;
    m_executor.counters().bytes.fetch_add(n, std::memory_order_relaxed);
    // Commands are decoded where the guest wrote them, as executed streams are: the Reader loads
    // every field once (volatile) and everything decoded is a copy, so a guest rewriting the
    // buffer meanwhile changes no value after it was checked. Only a batch that wraps around the
    // end of the buffer is copied, to be contiguous.
    const volatile std::byte* commands = m_layout.buffer + start;
    if (n > m_layout.buffer_size - start) {
        const std::uint32_t first = m_layout.buffer_size - start;
        std::memcpy(m_commands.get(), m_layout.buffer + start, first);
        std::memcpy(m_commands.get() + first, m_layout.buffer, n - first);
        commands = m_commands.get();
    }
    protocol::Reader in(commands, n, m_executor.fatal_state());
    // The dispatch lock is held over up to `commands_per_lock` commands rather than taken per
    // command: locking and waking per command cost as much as a small command itself. Waiters
    // test their condition only while holding the lock, so one wake before each release tells
    // them everything the stored heads say; the head itself still advances after every command.
    std::unique_lock lock(m_executor.dispatch_mutex(), std::defer_lock);
    auto release = [&] {
        m_executor.wake_all();
        lock.unlock();
    };
    while (!in.empty()) {
        lock.lock();
        if (m_stop) {
            release();
            return false;
        }
        if (m_executor.fatal_state().is_fatal()) {
            // Failed on another path: this ring stops too, and says so, but it is not the one
            // to report.
            set_status_bits(VK_RING_STATUS_FATAL_BIT_MESA);
            release();
            return false;
        }
        // A command that waits releases the lock meanwhile: the run ends after it when that let
        // a stop or another source's failure in, and the checks above take them.
        const DecodeResult r =
            m_executor.dispatch_run(m_source, lock, in, m_arenas, commands_per_lock, [&] {
                m_head = cur + static_cast<std::uint32_t>(n - in.remaining());
                word(m_layout.head).store(m_head, std::memory_order_release);
                return !m_stop.load(std::memory_order_relaxed) &&
                       !m_executor.fatal_state().is_fatal();
            });
        if (r != DecodeResult::Ok) {
            fail(lock, "command failed");
            release();
            return false;
        }
        if (in.empty())
            m_executor.flush_recorded_calls();
        release();
    }
    return true;
}

void Ring::run() {
    ::prctl(PR_SET_NAME, "vn-ring", 0, 0, 0);
    if (m_priority) {
        // A nice value for this thread only (PRIO_PROCESS with 0 is the calling thread on
        // Linux). Raising priority needs CAP_SYS_NICE, which the jail drops: the ring then
        // simply runs at the worker's priority, as it would on a host that refused it.
        (void)::setpriority(PRIO_PROCESS, 0, std::clamp(*m_priority, -20, 19));
    }
    // The backoff sleeps are short and their length matters (a round trip that lands in one
    // waits for it): without this the default 50 us timer slack makes a 10 us sleep 60 us.
    (void)::prctl(PR_SET_TIMERSLACK, timer_slack_ns, 0, 0, 0);
    std::uint32_t cur = 0; // head reads 0 at creation
    auto last_submit = std::chrono::steady_clock::now();
    int relax = 0;
    while (!m_stop) {
        if (std::chrono::steady_clock::now() - last_submit >= m_idle_timeout) {
            set_status_bits(VK_RING_STATUS_IDLE_BIT_MESA);
            if (tail() == cur)
                sleep_idle(cur);
            clear_status_bits(VK_RING_STATUS_IDLE_BIT_MESA);
            if (m_stop)
                break;
        }
        const std::uint32_t tail = this->tail();
        const std::uint32_t n = tail - cur;
        if (n > m_layout.buffer_size) {
            std::unique_lock lock(m_executor.dispatch_mutex());
            fail(lock, "tail " + std::to_string(tail) + " is more than the buffer size ahead of " +
                           std::to_string(cur));
            break;
        }
        if (n > 0) {
            if (!execute(cur, n))
                break;
            cur = tail;
            last_submit = std::chrono::steady_clock::now();
            relax = 0;
            continue;
        }
        if (m_context_waiting.load(std::memory_order_relaxed)) {
            std::unique_lock lock(m_executor.dispatch_mutex());
            if (m_context_wait && this->tail() == cur && !reached(cur, *m_context_wait)) {
                fail(lock, "the context waits for seqno " + std::to_string(*m_context_wait) +
                               " beyond the ring's tail " + std::to_string(cur));
                break;
            }
        }
        if (relax < yield_spins || std::chrono::steady_clock::now() - last_submit < spin_budget) {
            ::sched_yield();
        } else {
            const int doublings = std::min(relax - yield_spins, 10);
            std::this_thread::sleep_for(std::min(first_sleep * (1 << doublings), max_sleep));
        }
        ++relax;
    }
    std::lock_guard lock(m_executor.dispatch_mutex());
    // What queued calls point at goes with this ring.
    m_executor.drain_recorded_calls();
    m_arenas.release();
    m_dead = true;
    m_executor.wake_all();
}

// ---- RingSet --------------------------------------------------------------------------------

RingSet::~RingSet() {
    stop_monitor();
}

Ring* RingSet::find(std::uint64_t id) {
    const auto it = m_rings.find(id);
    return it == m_rings.end() ? nullptr : it->second.get();
}

void RingSet::add(std::unique_ptr<Ring> ring, std::optional<std::uint32_t> monitor_period_us) {
    Ring* r = ring.get();
    m_rings.emplace(r->id(), std::move(ring));
    if (!monitor_period_us)
        return;
    std::lock_guard lock(m_monitor_mutex);
    m_monitored.push_back(r);
    const std::chrono::microseconds period(*monitor_period_us);
    if (m_period.count() == 0 || period < m_period)
        m_period = period;
    if (!m_monitor.joinable())
        m_monitor = std::thread([this] { monitor(); });
    m_monitor_cv.notify_all();
}

std::unique_ptr<Ring> RingSet::remove(std::uint64_t id) {
    const auto it = m_rings.find(id);
    if (it == m_rings.end())
        return nullptr;
    std::unique_ptr<Ring> ring = std::move(it->second);
    m_rings.erase(it);
    std::lock_guard lock(m_monitor_mutex);
    std::erase(m_monitored, ring.get());
    return ring;
}

void RingSet::report_fatal() {
    for (auto& [id, ring] : m_rings)
        ring->report_fatal();
}

bool RingSet::uses_resource(std::uint32_t resource_id) const {
    for (const auto& [id, ring] : m_rings) {
        if (ring->layout().resource_id == resource_id)
            return true;
        const DispatchSource& s = const_cast<Ring&>(*ring).source();
        if (s.reply_stream.data && s.reply_resource == resource_id)
            return true;
    }
    return false;
}

std::map<std::uint64_t, std::unique_ptr<Ring>> RingSet::take_all() {
    {
        std::lock_guard lock(m_monitor_mutex);
        m_monitored.clear();
    }
    return std::exchange(m_rings, {});
}

void RingSet::monitor() {
    std::unique_lock lock(m_monitor_mutex);
    while (!m_monitor_stop) {
        for (Ring* r : m_monitored)
            r->report_alive();
        m_monitor_cv.wait_for(lock, m_period, [&] { return m_monitor_stop; });
    }
}

void RingSet::stop_monitor() {
    {
        std::lock_guard lock(m_monitor_mutex);
        m_monitor_stop = true;
        m_monitor_cv.notify_all();
    }
    if (m_monitor.joinable())
        m_monitor.join();
}

// ---- Context fences on queue timelines ------------------------------------------------------

bool Executor::submit_fence(std::uint32_t ring_idx, std::function<void()> retire,
                            std::string& error) {
    // A driver call like any command's: after the queued ones.
    m_calls.drain();
    const ObjectTable<VkQueue>::Entry* queue = nullptr;
    for (const auto& [id, entry] : m_objects.table<VkQueue>()) {
        if (static_cast<const DeviceChildState*>(entry.state.get())->ring_idx == ring_idx) {
            queue = &entry;
            break;
        }
    }
    if (!queue) {
        error = "no queue is bound to ring_idx " + std::to_string(ring_idx);
        return false;
    }
    DeviceState* dev = static_cast<const DeviceChildState*>(queue->state.get())->device;
    VkDevice device = VK_NULL_HANDLE;
    for (const auto& [id, entry] : m_objects.table<VkDevice>())
        if (entry.state.get() == dev)
            device = entry.handle;
    // An empty submission signals its fence once everything submitted before it on the queue
    // has completed (queue submission order).
    const VkFenceCreateInfo info{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO, nullptr, 0};
    VkFence fence = VK_NULL_HANDLE;
    if (VkResult r = dev->dispatch.CreateFence(device, &info, nullptr, &fence); r != VK_SUCCESS) {
        error = "cannot create a fence: VkResult " + std::to_string(r);
        return false;
    }
    if (VkResult r = dev->dispatch.QueueSubmit(queue->handle, 0, nullptr, fence); r != VK_SUCCESS) {
        dev->dispatch.DestroyFence(device, fence, nullptr);
        error = "empty submission for ring_idx " + std::to_string(ring_idx) + " failed: VkResult " +
                std::to_string(r);
        return false;
    }
    auto& thread = m_fence_threads[ring_idx];
    if (!thread)
        thread = std::make_unique<FenceThread>();
    thread->push({&dev->dispatch, device, fence, std::move(retire)});
    return true;
}

FenceThread::FenceThread() : m_thread([this] { run(); }) {}

FenceThread::~FenceThread() {
    {
        std::lock_guard lock(m_mutex);
        m_stop = true;
        m_cv.notify_all();
    }
    m_thread.join();
}

void FenceThread::push(Pending p) {
    std::lock_guard lock(m_mutex);
    m_queue.push_back(std::move(p));
    m_cv.notify_all();
}

void FenceThread::drain(VkDevice device) {
    std::unique_lock lock(m_mutex);
    m_cv.wait(lock, [&] {
        return m_in_flight != device &&
               std::none_of(m_queue.begin(), m_queue.end(),
                            [&](const Pending& p) { return p.device == device; });
    });
}

void FenceThread::run() {
    std::unique_lock lock(m_mutex);
    for (;;) {
        m_cv.wait(lock, [&] { return m_stop || !m_queue.empty(); });
        if (m_queue.empty())
            return; // stopping, and nothing left to retire
        Pending p = std::move(m_queue.front());
        m_queue.erase(m_queue.begin());
        m_in_flight = p.device;
        lock.unlock();
        // Retiring early would tell the guest its work is done when it is not; a device lost
        // ends the wait too, and the guest learns of the loss from its own calls.
        p.dispatch->WaitForFences(p.device, 1, &p.fence, VK_TRUE, UINT64_MAX);
        p.dispatch->DestroyFence(p.device, p.fence, nullptr);
        p.retire();
        lock.lock();
        m_in_flight = VK_NULL_HANDLE;
        m_cv.notify_all();
    }
}

} // namespace vn::decoder

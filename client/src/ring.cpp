#include "vn/client/ring.h"

#include <atomic>
#include <bit>
#include <chrono>
#include <cstring>
#include <thread>

namespace vn::client {

namespace {
std::size_t align64(std::size_t v) {
    return (v + 63) & ~std::size_t{63};
}

// seqno reached: head and tail are free-running 32-bit counters.
bool reached(std::uint32_t head, std::uint32_t seqno) {
    return static_cast<std::int32_t>(head - seqno) >= 0;
}

// Yields first, as many times as Mesa's driver does (vn_relax: 2^8 yields before its first
// sleep), then sleeps 10 us doubling up to 1 ms; checks for a lost context between sleeps. A guest
// that sleeps sooner leaves the renderer idle once the ring drains while it sleeps, and the
// figures would measure the guest's back-off rather than the renderer.
class Backoff {
  public:
    void relax() {
        if (++m_iter < yields) {
            std::this_thread::yield();
            return;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(m_sleep_us));
        m_sleep_us = std::min(m_sleep_us * 2, 1000u);
    }
    // Every 16th yield, and before every sleep.
    bool time_to_check() const { return m_iter >= yields || m_iter % 16 == 0; }

  private:
    static constexpr std::uint32_t yields = 256;
    std::uint32_t m_iter = 0;
    std::uint32_t m_sleep_us = 10;
};
} // namespace

Ring::Ring(Guest& guest, RingOptions options)
    : m_guest(&guest), m_options(options), m_id(guest.new_id()) {
    if (!std::has_single_bit(m_options.buffer_size) || m_options.buffer_size > (16u << 20))
        throw SetupError("ring buffer size must be a power of two up to 16 MiB");
    const std::size_t extra_offset = buffer_offset + m_options.buffer_size;
    const std::size_t size = align64(extra_offset + m_options.extra_size);
    if (guest.map_blob(0, size, m_shmem) != Status::Ok || !m_shmem.mapped())
        throw SetupError("ring shmem: " + guest.last_error());
    // A fresh shmem is zero: head and status start at 0 as the renderer requires.

    VkRingMonitorInfoMESA monitor{};
    monitor.sType = VK_STRUCTURE_TYPE_RING_MONITOR_INFO_MESA;
    monitor.maxReportingPeriodMicroseconds = m_options.monitor_period_us;
    VkRingCreateInfoMESA info{};
    info.sType = VK_STRUCTURE_TYPE_RING_CREATE_INFO_MESA;
    info.pNext = m_options.monitor_period_us ? &monitor : nullptr;
    info.resourceId = m_shmem.res_id();
    info.offset = 0;
    info.size = size;
    info.idleTimeout = m_options.idle_timeout_ns;
    info.headOffset = head_offset;
    info.tailOffset = tail_offset;
    info.statusOffset = status_offset;
    info.bufferOffset = buffer_offset;
    info.bufferSize = m_options.buffer_size;
    info.extraOffset = extra_offset;
    info.extraSize = m_options.extra_size;
    gen::CreateRingMESAArgs create;
    create.ring = m_id;
    create.pCreateInfo = &info;
    if (guest.send(create) != Status::Ok || guest.sync() != Status::Ok ||
        guest.transport().is_lost())
        throw SetupError("vkCreateRingMESA: " + guest.last_error());
    m_created = true;
}

Ring::~Ring() {
    if (!m_created || m_guest->transport().is_lost())
        return;
    gen::DestroyRingMESAArgs destroy;
    destroy.ring = m_id;
    // The renderer stops the ring thread before it answers the fence; only then may the shmem go.
    if (m_guest->send(destroy) == Status::Ok)
        (void)m_guest->sync();
}

std::uint32_t Ring::head() const {
    return std::atomic_ref<std::uint32_t>(*word(head_offset)).load(std::memory_order_acquire);
}

std::uint32_t Ring::status() const {
    return std::atomic_ref<std::uint32_t>(*word(status_offset)).load(std::memory_order_seq_cst);
}

bool Ring::fatal() const {
    return (status() & VK_RING_STATUS_FATAL_BIT_MESA) != 0;
}

bool Ring::take_alive() {
    const std::uint32_t before = std::atomic_ref<std::uint32_t>(*word(status_offset))
                                     .fetch_and(~VK_RING_STATUS_ALIVE_BIT_MESA);
    return (before & VK_RING_STATUS_ALIVE_BIT_MESA) != 0;
}

bool Ring::gone() const {
    return fatal() || m_guest->transport().is_lost();
}

Status Ring::wait_for_room(std::uint32_t size) {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(m_guest->options().timeout_ms);
    Backoff backoff;
    // Used bytes are tail - head; the renderer never moves head past tail.
    while (m_tail - head() > m_options.buffer_size - size) {
        if (backoff.time_to_check()) {
            if (gone())
                return Status::Lost;
            if (std::chrono::steady_clock::now() > deadline)
                return Status::Timeout;
        }
        backoff.relax();
    }
    return Status::Ok;
}

Status Ring::submit(std::span<const std::byte> cmd, std::uint32_t& seqno) {
    if (cmd.size() > m_options.buffer_size || cmd.size() % 4 != 0)
        return Status::InvalidArgument;
    if (fatal())
        return Status::Lost;
    const auto size = static_cast<std::uint32_t>(cmd.size());
    if (const Status s = wait_for_room(size); s != Status::Ok)
        return s;

    auto* buffer = static_cast<std::byte*>(m_shmem.data()) + buffer_offset;
    const std::uint32_t mask = m_options.buffer_size - 1;
    const std::uint32_t pos = m_tail & mask;
    const std::uint32_t first = std::min(size, m_options.buffer_size - pos);
    std::memcpy(buffer + pos, cmd.data(), first);
    std::memcpy(buffer, cmd.data() + first, size - first);
    m_tail += size;
    seqno = m_tail;
    // seq_cst on both sides (tail store here, IDLE store there, each followed by a load of the
    // other) so that either the renderer sees the new tail or we see IDLE: no lost wake-up.
    std::atomic_ref<std::uint32_t>(*word(tail_offset)).store(m_tail, std::memory_order_seq_cst);
    if (status() & VK_RING_STATUS_IDLE_BIT_MESA) {
        gen::NotifyRingMESAArgs notify;
        notify.ring = m_id;
        notify.seqno = m_tail;
        ++m_notifies;
        return m_guest->send(notify);
    }
    return Status::Ok;
}

Status Ring::wait(std::uint32_t seqno, int timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::milliseconds(timeout_ms < 0 ? 0 : timeout_ms);
    Backoff backoff;
    while (!reached(head(), seqno)) {
        if (backoff.time_to_check()) {
            if (gone())
                return Status::Lost;
            if (timeout_ms >= 0 && std::chrono::steady_clock::now() > deadline)
                return Status::Timeout;
        }
        backoff.relax();
    }
    return Status::Ok;
}

Status Ring::wait_on_renderer(std::uint32_t seqno) {
    gen::WaitRingSeqnoMESAArgs wait;
    wait.ring = m_id;
    wait.seqno = seqno;
    if (const Status s = m_guest->send(wait); s != Status::Ok)
        return s;
    if (const Status s = m_guest->sync(); s != Status::Ok)
        return s;
    return reached(head(), seqno) ? Status::Ok : Status::BadReply;
}

} // namespace vn::client

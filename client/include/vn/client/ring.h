#pragma once
// The guest side of a Venus ring, laid out as Mesa's vn_ring.c does: head @0, tail @64,
// status @128 (each on its own 64-byte line), the command buffer @192, extra right after it.
// The guest owns tail and writes commands at buffer[tail % size] (wrapping); the renderer owns
// head and status. head and tail are free-running byte counts, compared wrap-aware.
#include "vn/client/guest.h"
#include "vn/client/mapping.h"

#include <cstdint>
#include <span>

namespace vn::client {

struct RingOptions {
    std::uint32_t buffer_size = 128 * 1024; // power of two, at most 16 MiB
    std::uint32_t extra_size = 4;
    // After this long without commands the renderer marks the ring IDLE and sleeps until
    // vkNotifyRingMESA (nanoseconds, on the renderer's CLOCK_MONOTONIC).
    std::uint64_t idle_timeout_ns = 5'000'000;
    // Non-zero: chain VkRingMonitorInfoMESA, so the renderer sets ALIVE this often. virglrenderer
    // 0.10.x does not know the struct and treats it as a decode error.
    std::uint32_t monitor_period_us = 0;
};

class Ring {
  public:
    // Creates the shmem, maps it, and sends vkCreateRingMESA on the context path (waiting for it
    // to be decoded). Throws SetupError.
    Ring(Guest& guest, RingOptions options = {});
    // vkDestroyRingMESA on the context path, when the context is still alive.
    ~Ring();
    Ring(const Ring&) = delete;
    Ring& operator=(const Ring&) = delete;

    std::uint64_t id() const { return m_id; }
    // The blob resource holding the ring's shmem.
    std::uint32_t res_id() const { return m_shmem.res_id(); }
    const RingOptions& options() const { return m_options; }

    // Copies `cmd` into the ring (waiting for room), publishes the new tail, and notifies the
    // renderer when it was idle. `seqno` is the tail after this command: once head reaches it the
    // command was executed. A command must fit in the buffer; larger streams go through
    // vkExecuteCommandStreamsMESA in a shmem (Mesa's indirect submission), not through here.
    Status submit(std::span<const std::byte> cmd, std::uint32_t& seqno);
    // Polls head (spinning, then sleeping with a growing interval) until it reaches seqno.
    Status wait(std::uint32_t seqno, int timeout_ms);
    // Asks the renderer itself to wait (vkWaitRingSeqnoMESA on the context path, then a fence):
    // how Mesa waits without polling. virglrenderer 0.10.x does not have this command.
    Status wait_on_renderer(std::uint32_t seqno);

    template <typename Args>
    Status send(const Args& args) {
        m_stream.clear();
        protocol::Writer w(m_stream);
        gen::encode_args(w, 0, args);
        std::uint32_t seqno = 0;
        return submit(m_stream, seqno);
    }
    // A synchronous call through the ring: the reply stream is set in the same batch, so the
    // renderer writes the reply before head passes the command.
    template <typename Args>
    Status call(const Args& args, Args& reply) {
        m_stream.clear();
        protocol::Writer w(m_stream);
        m_guest->encode_call(w, args);
        std::uint32_t seqno = 0;
        if (const Status s = submit(m_stream, seqno); s != Status::Ok)
            return s;
        if (const Status s = wait(seqno, m_guest->options().timeout_ms); s != Status::Ok)
            return s;
        return m_guest->read_reply(args, reply);
    }

    std::uint32_t head() const;
    std::uint32_t tail() const { return m_tail; }
    std::uint32_t status() const;
    // The renderer gave up on this ring (1.x sets FATAL; 0.10.x only loses the context).
    bool fatal() const;
    // A monitored ring (monitor_period_us): whether the renderer set ALIVE since the last call.
    // Clears the bit, as Mesa's watchdog does, so the next call sees only a fresh report.
    bool take_alive();
    // vkNotifyRingMESA sent so far: how often the renderer had gone idle.
    std::uint32_t notify_count() const { return m_notifies; }
    // Bytes from the start of the shmem, for tests that check the layout.
    static constexpr std::size_t head_offset = 0, tail_offset = 64, status_offset = 128,
                                 buffer_offset = 192;

  private:
    std::uint32_t* word(std::size_t offset) const {
        return reinterpret_cast<std::uint32_t*>(static_cast<std::byte*>(m_shmem.data()) + offset);
    }
    Status wait_for_room(std::uint32_t size);
    bool gone() const;

    Guest* m_guest;
    RingOptions m_options;
    MappedBlob m_shmem;
    std::uint64_t m_id = 0;
    std::uint32_t m_tail = 0;
    std::uint32_t m_notifies = 0;
    bool m_created = false;
    std::vector<std::byte> m_stream;
};

} // namespace vn::client

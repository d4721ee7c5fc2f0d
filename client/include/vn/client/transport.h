#pragma once
// The context path of one guest Venus context, as a guest kernel driver (virtio-gpu) offers it to
// Mesa's Venus driver: command submission, blob resources, fences on per-queue timelines. Guest
// and Ring are written against this interface only, so the same client runs over libvenus-proxy,
// over vtest, or over anything else that carries these five operations.
#include "vn/os/unique_fd.h"

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>

namespace vn::client {

using os::UniqueFd;

enum class Status {
    Ok,
    // The context is gone (worker died, hung up, or rejected a stream): every later call fails.
    Lost,
    // The peer declined this request (resource creation refused); the context is still usable.
    Refused,
    Timeout,
    // The caller passed something the transport cannot send.
    InvalidArgument,
    // A local system call failed.
    System,
    // The server's reply could not be decoded (or does not answer what was asked).
    BadReply,
};

const char* status_string(Status s);

// Setting up a server, a context, a reply stream or a ring failed; what() says which and why.
class SetupError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Numbered as on the wire (virgl_resource.h), and as libvenus-proxy reports them.
enum class FdType : int { Dmabuf = 0, Opaque = 1, Shm = 2 };

// Blob flags (VIRTGPU_BLOB_FLAG_USE_*).
inline constexpr std::uint32_t blob_flag_mappable = 0x1;
inline constexpr std::uint32_t blob_flag_shareable = 0x2;
inline constexpr std::uint32_t blob_flag_cross_device = 0x4;

// A blob resource: a shmem (blob_id 0, for reply streams, command streams and rings) or the
// memory of a VkDeviceMemory (blob_id = the memory's object id).
struct Blob {
    std::uint32_t res_id = 0;
    UniqueFd fd;
    FdType fd_type = FdType::Shm;
    std::uint64_t size = 0;
    std::uint32_t map_info = 0; // VIRGL_RENDERER_MAP_CACHE_*
};

class Transport {
  public:
    virtual ~Transport() = default;

    // Queues a Venus command stream on the context. Whether it is decoded before this returns
    // depends on the peer; a fence on ring 0 submitted afterwards retires only once it was.
    virtual Status submit_cmd(std::span<const std::byte> cmd) = 0;
    // Creates a blob resource; the transport picks its resource id.
    virtual Status create_blob(std::uint64_t blob_id, std::uint64_t size, std::uint32_t flags,
                               Blob& out) = 0;
    virtual Status destroy_resource(std::uint32_t res_id) = 0;
    // A fence on timeline ring_idx (0: the CPU timeline; n: the queue bound to n by
    // VkDeviceQueueTimelineInfoMESA). The transport picks the seqno.
    virtual Status submit_fence(std::uint32_t ring_idx, std::uint32_t& seqno) = 0;
    // timeout_ms < 0 waits forever.
    virtual Status wait_fence(std::uint32_t ring_idx, std::uint32_t seqno, int timeout_ms) = 0;
    virtual bool is_lost() = 0;
    // Why the last failing operation failed, for messages (may be empty).
    virtual std::string last_error() const = 0;
};

} // namespace vn::client

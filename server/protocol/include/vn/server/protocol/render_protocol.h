#pragma once
// The control protocol between the VMM-side proxy, the render server and its per-context workers,
// as fixed-size structs. Two layouts exist on real systems: virglrenderer 1.x (what we serve, and
// what libvirglrenderer's proxy is compiled against) and virglrenderer 0.10.x (Debian 12's
// virgl_render_server, which our proxy can also drive). Every byte offset is pinned by a
// static_assert because the peer is compiled from C headers we do not share.
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace vn::server::protocol {

// Covers the command line and the socket type only, as upstream's RENDER_SERVER_VERSION.
inline constexpr std::uint32_t kRenderServerVersion = 0;
inline constexpr std::size_t kMaxFdsPerMessage = 8;
inline constexpr std::size_t kContextNameSize = 32;
inline constexpr std::size_t kSubmitInlineSize = 256;
// Upstream's RENDER_SERVER_MAX_WORKER_COUNT, applied per client connection.
inline constexpr std::size_t kMaxContextsPerClient = 256;

enum class ClientOp : std::uint32_t {
    Nop = 0,
    Init = 1,
    Reset = 2,
    CreateContext = 3,
    DestroyContext = 4,
    Count = 5,
};

enum class ContextOp : std::uint32_t {
    Nop = 0,
    Init = 1,
    CreateResource = 2,
    ImportResource = 3,
    DestroyResource = 4,
    SubmitCmd = 5,
    SubmitFence = 6,
    Count = 7,
};

// virgl_resource.h numbering; the public virglrenderer API numbers these differently.
enum class FdType : std::int32_t {
    Invalid = -1,
    DmaBuf = 0,
    Opaque = 1,
    Shm = 2,
    OpaqueHandle = 3,
};

// VIRGL_RENDERER_* init flags the proxy sends with the INIT client op.
inline constexpr std::uint32_t kRendererThreadSync = 1u << 1;
inline constexpr std::uint32_t kRendererVenus = 1u << 6;
inline constexpr std::uint32_t kRendererNoVirgl = 1u << 7;
inline constexpr std::uint32_t kRendererRenderServer = 1u << 9;

// VIRGL_RENDERER_CONTEXT_FLAG_*: the low byte is the capset id.
inline constexpr std::uint32_t kContextCapsetIdMask = 0xff;
inline constexpr std::uint32_t kCapsetVenus = 4;

inline constexpr std::uint32_t kBlobFlagMappable = 1u << 0;
inline constexpr std::uint32_t kBlobFlagShareable = 1u << 1;
inline constexpr std::uint32_t kBlobFlagCrossDevice = 1u << 2;

inline constexpr std::uint32_t kFenceFlagMergeable = 1u << 0;

inline constexpr std::uint32_t kMapCacheMask = 0x0f;
inline constexpr std::uint32_t kMapCacheNone = 0;
inline constexpr std::uint32_t kMapCacheCached = 1;
inline constexpr std::uint32_t kMapCacheUncached = 2;
inline constexpr std::uint32_t kMapCacheWc = 3;

// ---- Client ops (server process); identical in 1.x and 0.10.x ----

struct ClientOpHeader {
    ClientOp op;
};

struct ClientNopRequest {
    ClientOpHeader header;
};

struct ClientInitRequest {
    ClientOpHeader header;
    std::uint32_t flags;
};

struct ClientResetRequest {
    ClientOpHeader header;
};

struct ClientCreateContextRequest {
    ClientOpHeader header;
    std::uint32_t ctx_id;
    char ctx_name[kContextNameSize];
};

struct ClientCreateContextReply {
    bool ok; // followed by exactly one SEQPACKET socket fd when ok
};

struct ClientDestroyContextRequest {
    ClientOpHeader header;
    std::uint32_t ctx_id;
};

// The receive buffer size of the server: the largest client request.
inline constexpr std::size_t kClientRequestMaxSize = sizeof(ClientCreateContextRequest);

// ---- Context ops (worker); shared parts ----

struct ContextOpHeader {
    ContextOp op;
};

struct ContextNopRequest {
    ContextOpHeader header;
};

struct ContextInitRequest {
    ContextOpHeader header;
    std::uint32_t flags;
    std::uint64_t shmem_size; // size_t on the wire; LP64 only
    // followed by one shmem fd and optionally one eventfd
};

struct ContextCreateResourceRequest {
    ContextOpHeader header;
    std::uint32_t res_id;
    std::uint64_t blob_id;
    std::uint64_t blob_size;
    std::uint32_t blob_flags;
    std::uint32_t pad;
};

struct VulkanInfo {
    std::uint8_t device_uuid[16];
    std::uint8_t driver_uuid[16];
    std::uint64_t allocation_size;
    std::uint32_t memory_type_index;
    std::uint32_t pad;
};

struct ContextImportResourceRequest {
    ContextOpHeader header;
    std::uint32_t res_id;
    FdType fd_type;
    std::uint32_t pad;
    std::uint64_t size;
    // followed by exactly one fd
};

struct ContextDestroyResourceRequest {
    ContextOpHeader header;
    std::uint32_t res_id;
};

struct ContextSubmitFenceRequest {
    ContextOpHeader header;
    std::uint32_t flags;
    std::uint32_t ring_index;
    std::uint32_t seqno;
};

// ---- Layout differences ----

namespace v1 {
struct ContextCreateResourceReply {
    FdType fd_type;
    std::uint32_t map_info;
    VulkanInfo vulkan_info;
    // followed by one fd unless fd_type is Invalid
};

struct ContextSubmitCmdRequest {
    ContextOpHeader header;
    std::uint32_t size;
    char cmd[kSubmitInlineSize];
    // if size > sizeof(cmd), (size - sizeof(cmd)) bytes follow as one more datagram
};
// No reply: a stream the worker rejects kills the context.

inline constexpr std::size_t kContextRequestMaxSize = sizeof(ContextSubmitCmdRequest);
} // namespace v1

namespace v0_10 {
struct ContextCreateResourceReply {
    FdType fd_type;
    std::uint32_t map_info;
};

struct ContextSubmitCmdRequest {
    ContextOpHeader header;
    std::uint32_t pad;
    std::uint64_t size; // size_t on the wire
    char cmd[kSubmitInlineSize];
};

struct ContextSubmitCmdReply {
    bool ok; // always sent; a rejected stream does not kill the context
};

inline constexpr std::size_t kContextRequestMaxSize = sizeof(ContextSubmitCmdRequest);
} // namespace v0_10

// The protocol is only defined for LP64 Linux: size_t fields are 8 bytes wide.
static_assert(sizeof(std::size_t) == 8, "render protocol layout assumes LP64");
static_assert(sizeof(bool) == 1);

static_assert(sizeof(ClientOpHeader) == 4);
static_assert(sizeof(ClientNopRequest) == 4);
static_assert(sizeof(ClientInitRequest) == 8 && offsetof(ClientInitRequest, flags) == 4);
static_assert(sizeof(ClientResetRequest) == 4);
static_assert(sizeof(ClientCreateContextRequest) == 40);
static_assert(offsetof(ClientCreateContextRequest, ctx_id) == 4);
static_assert(offsetof(ClientCreateContextRequest, ctx_name) == 8);
static_assert(sizeof(ClientCreateContextReply) == 1);
static_assert(sizeof(ClientDestroyContextRequest) == 8);
static_assert(offsetof(ClientDestroyContextRequest, ctx_id) == 4);
static_assert(kClientRequestMaxSize == 40);

static_assert(sizeof(ContextNopRequest) == 4);
static_assert(sizeof(ContextInitRequest) == 16);
static_assert(offsetof(ContextInitRequest, flags) == 4);
static_assert(offsetof(ContextInitRequest, shmem_size) == 8);
static_assert(sizeof(ContextCreateResourceRequest) == 32);
static_assert(offsetof(ContextCreateResourceRequest, res_id) == 4);
static_assert(offsetof(ContextCreateResourceRequest, blob_id) == 8);
static_assert(offsetof(ContextCreateResourceRequest, blob_size) == 16);
static_assert(offsetof(ContextCreateResourceRequest, blob_flags) == 24);
static_assert(sizeof(VulkanInfo) == 48);
static_assert(offsetof(VulkanInfo, driver_uuid) == 16);
static_assert(offsetof(VulkanInfo, allocation_size) == 32);
static_assert(offsetof(VulkanInfo, memory_type_index) == 40);
static_assert(sizeof(ContextImportResourceRequest) == 24);
static_assert(offsetof(ContextImportResourceRequest, res_id) == 4);
static_assert(offsetof(ContextImportResourceRequest, fd_type) == 8);
static_assert(offsetof(ContextImportResourceRequest, size) == 16);
static_assert(sizeof(ContextDestroyResourceRequest) == 8);
static_assert(sizeof(ContextSubmitFenceRequest) == 16);
static_assert(offsetof(ContextSubmitFenceRequest, flags) == 4);
static_assert(offsetof(ContextSubmitFenceRequest, ring_index) == 8);
static_assert(offsetof(ContextSubmitFenceRequest, seqno) == 12);

static_assert(sizeof(v1::ContextCreateResourceReply) == 56);
static_assert(offsetof(v1::ContextCreateResourceReply, map_info) == 4);
static_assert(offsetof(v1::ContextCreateResourceReply, vulkan_info) == 8);
static_assert(sizeof(v1::ContextSubmitCmdRequest) == 264);
static_assert(offsetof(v1::ContextSubmitCmdRequest, size) == 4);
static_assert(offsetof(v1::ContextSubmitCmdRequest, cmd) == 8);
static_assert(v1::kContextRequestMaxSize == 264);

static_assert(sizeof(v0_10::ContextCreateResourceReply) == 8);
static_assert(sizeof(v0_10::ContextSubmitCmdRequest) == 272);
static_assert(offsetof(v0_10::ContextSubmitCmdRequest, size) == 8);
static_assert(offsetof(v0_10::ContextSubmitCmdRequest, cmd) == 16);
static_assert(sizeof(v0_10::ContextSubmitCmdReply) == 1);
static_assert(v0_10::kContextRequestMaxSize == 272);

// Requests are memcpy'd to and from the wire, never aliased.
static_assert(std::is_trivially_copyable_v<ClientCreateContextRequest>);
static_assert(std::is_trivially_copyable_v<v1::ContextSubmitCmdRequest>);
static_assert(std::is_trivially_copyable_v<v0_10::ContextSubmitCmdRequest>);
static_assert(std::is_trivially_copyable_v<v1::ContextCreateResourceReply>);

} // namespace vn::server::protocol

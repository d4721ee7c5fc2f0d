#pragma once
// The vtest wire protocol as Mesa's Venus vtest backend speaks it (vn_renderer_vtest.c, Mesa 24):
// a stream of little-endian u32 words on an AF_UNIX stream socket, each message a 2-word header
// [length, command] and a payload of `length` words (bytes for CREATE_RENDERER). fds travel one
// per 1-byte message with SCM_RIGHTS. Shared by venus-vtest and the test client.
#include <cstdint>

namespace vn::vtest {

// Mesa's VTEST_DEFAULT_SOCKET_NAME, and the variable its driver reads to override it.
inline constexpr const char* kDefaultSocketPath = "/tmp/.virgl_test";
inline constexpr const char* kSocketPathEnv = "VTEST_SOCKET_NAME";

inline constexpr std::uint32_t kHeaderWords = 2;
inline constexpr std::uint32_t kHeaderLength = 0;
inline constexpr std::uint32_t kHeaderCommand = 1;

enum class Command : std::uint32_t {
    GetCaps = 1,
    ResourceCreate = 2,
    ResourceUnref = 3,
    TransferGet = 4,
    TransferPut = 5,
    SubmitCmd = 6,
    ResourceBusyWait = 7,
    CreateRenderer = 8,
    GetCaps2 = 9,
    PingProtocolVersion = 10,
    ProtocolVersion = 11,
    ResourceCreate2 = 12,
    TransferGet2 = 13,
    TransferPut2 = 14,
    GetParam = 15,
    GetCapset = 16,
    ContextInit = 17,
    ResourceCreateBlob = 18,
    SyncCreate = 19,
    SyncUnref = 20,
    SyncRead = 21,
    SyncWrite = 22,
    SyncWait = 23,
    SubmitCmd2 = 24,
};

// What venus-vtest serves. Mesa asks for 3 and needs at least 3; version 4 adds DRM native-context
// commands that a Venus server has no use for.
inline constexpr std::uint32_t kProtocolVersion = 3;
inline constexpr std::uint32_t kMinProtocolVersion = 3;

// Payload lengths in words of the fixed-size requests.
inline constexpr std::uint32_t kResourceUnrefSize = 1;
inline constexpr std::uint32_t kBusyWaitSize = 2;
inline constexpr std::uint32_t kProtocolVersionSize = 1;
inline constexpr std::uint32_t kGetParamSize = 1;
inline constexpr std::uint32_t kGetCapsetSize = 2;
inline constexpr std::uint32_t kContextInitSize = 1;
inline constexpr std::uint32_t kCreateBlobSize = 6;
inline constexpr std::uint32_t kSyncCreateSize = 2;
inline constexpr std::uint32_t kSyncUnrefSize = 1;
inline constexpr std::uint32_t kSyncReadSize = 1;
inline constexpr std::uint32_t kSyncWriteSize = 3;
// SYNC_WAIT: flags, timeout_ms, then (sync_id, value_lo, value_hi) per sync.
inline constexpr std::uint32_t kSyncWaitHeaderSize = 2;

inline constexpr std::uint32_t kParamMaxTimelineCount = 1;
// Fence timelines per context: ring_idx 0 is the CPU timeline, 1..63 bind to VkQueues.
inline constexpr std::uint32_t kMaxTimelineCount = 64;

inline constexpr std::uint32_t kCapsetVenus = 4;

enum BlobType : std::uint32_t { kBlobGuest = 1, kBlobHost3d = 2, kBlobHost3dGuest = 3 };
inline constexpr std::uint32_t kBlobFlagMappable = 1;
inline constexpr std::uint32_t kBlobFlagShareable = 2;
inline constexpr std::uint32_t kBlobFlagCrossDevice = 4;

inline constexpr std::uint32_t kSyncWaitFlagAny = 1;
// Mesa sends poll()'s -1 as this.
inline constexpr std::uint32_t kSyncWaitInfinite = 0xffffffffu;

// SUBMIT_CMD2: word 0 is the batch count, then one descriptor per batch. Mesa 24 writes 6-word
// descriptors (its struct vcmd_submit_cmd2_batch); virglrenderer's header strides by 8 (two
// reserved words). venus-vtest accepts both, see Session::handle_submit_cmd2.
inline constexpr std::uint32_t kSubmitFlagRingIdx = 1;
inline constexpr std::uint32_t kBatchWordsMesa = 6;
inline constexpr std::uint32_t kBatchWordsVirgl = 8;
enum BatchField : std::uint32_t {
    kBatchFlags = 0,
    kBatchCmdOffset = 1,
    kBatchCmdSize = 2,
    kBatchSyncOffset = 3,
    kBatchSyncCount = 4,
    kBatchRingIdx = 5,
};

} // namespace vn::vtest

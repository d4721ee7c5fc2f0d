/*
 * libvenus-proxy: the VMM side of the Venus render server.
 *
 * A VMM (crosvm, QEMU, libkrun) uses this to start or adopt a render server, create one context per
 * guest Venus context, forward command streams, fences and resources, and receive resource fds.
 * The library distrusts the server and its workers: every reply and every fd they send is checked
 * (size, fd count, fd type, memfd seals, dma-buf size) before the VMM sees it, and a worker that
 * dies or misbehaves turns its context into VN_PROXY_ERROR_CONTEXT_LOST, never into a crash of the
 * VMM.
 *
 * It speaks two layouts of virglrenderer's private render protocol, chosen at run time: 1.x (our
 * venus-render-server and virglrenderer >= 1.0) and 0.10.x (e.g. Debian 12's virgl_render_server).
 *
 * Thread safety: a server and each context carry their own lock; any function may be called from
 * any thread. Plain C: usable from C and C++.
 */
#ifndef VENUS_PROXY_H
#define VENUS_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library is built with hidden visibility; exactly what this header declares is exported. */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

typedef enum vn_proxy_result {
    VN_PROXY_OK = 0,
    /* The caller passed something invalid; nothing was sent. */
    VN_PROXY_ERROR_INVALID_ARGUMENT = -1,
    /* The context's worker died, hung up, or sent something invalid; the context is unusable and
     * should be destroyed. Other contexts are unaffected. */
    VN_PROXY_ERROR_CONTEXT_LOST = -2,
    /* The server died or violated the protocol; no new context can be created. */
    VN_PROXY_ERROR_SERVER_LOST = -3,
    /* The server or worker declined the request (context creation failed, a resource could not be
     * created, a 0.10.x worker rejected a command stream); the object stays usable. */
    VN_PROXY_ERROR_REFUSED = -4,
    VN_PROXY_ERROR_TIMEOUT = -5,
    /* A local system call failed (out of fds, memory...). */
    VN_PROXY_ERROR_SYSTEM = -6,
} vn_proxy_result;

typedef enum vn_proxy_layout {
    VN_PROXY_LAYOUT_V1 = 0,    /* virglrenderer 1.x, venus-render-server */
    VN_PROXY_LAYOUT_V0_10 = 1, /* virglrenderer 0.10.x */
} vn_proxy_layout;

/* Resource fd types, numbered as on the wire (virgl_resource.h). */
typedef enum vn_proxy_fd_type {
    VN_PROXY_FD_INVALID = -1,
    VN_PROXY_FD_DMABUF = 0,
    VN_PROXY_FD_OPAQUE = 1,
    VN_PROXY_FD_SHM = 2,
} vn_proxy_fd_type;

#define VN_PROXY_BLOB_FLAG_MAPPABLE 0x1u
#define VN_PROXY_BLOB_FLAG_SHAREABLE 0x2u
#define VN_PROXY_BLOB_FLAG_CROSS_DEVICE 0x4u

#define VN_PROXY_CAPSET_VENUS 4u
/* Fence timelines (rings) in the shared seqno page of every context. */
#define VN_PROXY_RING_COUNT 64u

/* Environment override of the server executable when vn_proxy_server_spawn gets no path. */
#define VN_PROXY_SERVER_PATH_ENV "VN_RENDER_SERVER_EXEC_PATH"

typedef struct vn_proxy_vulkan_info {
    uint8_t device_uuid[16];
    uint8_t driver_uuid[16];
    uint64_t allocation_size;
    uint32_t memory_type_index;
} vn_proxy_vulkan_info;

typedef struct vn_proxy_blob {
    int fd; /* owned by the caller; -1 never happens on success */
    vn_proxy_fd_type fd_type;
    uint32_t map_info;                /* VIRGL_RENDERER_MAP_CACHE_* */
    vn_proxy_vulkan_info vulkan_info; /* meaningful for VN_PROXY_FD_OPAQUE (1.x layout only) */
} vn_proxy_blob;

typedef struct vn_proxy_server vn_proxy_server;
typedef struct vn_proxy_context vn_proxy_context;

const char* vn_proxy_result_string(int result);

/* Forks and execs the server on a fresh socketpair, as `<path> --socket-fd N`. path NULL means
 * $VN_RENDER_SERVER_EXEC_PATH, else the installed venus-render-server. init_flags are
 * VIRGL_RENDERER_* flags; VENUS and NO_VIRGL are always added. The server is killed and reaped by
 * vn_proxy_server_destroy. */
int vn_proxy_server_spawn(const char* path, vn_proxy_layout layout, uint32_t init_flags,
                          vn_proxy_server** out);
/* Adopts a connected SOCK_SEQPACKET socket to a running server (virglrenderer's get_server_fd).
 * Takes ownership of fd in every case. */
int vn_proxy_server_connect(int fd, vn_proxy_layout layout, uint32_t init_flags,
                            vn_proxy_server** out);
/* Closes the connection; a spawned server is reaped. Contexts of this server may still be
 * destroyed afterwards (they report VN_PROXY_ERROR_CONTEXT_LOST once their workers are gone). */
void vn_proxy_server_destroy(vn_proxy_server* server);
/* pid of a spawned server, -1 for an adopted one. */
int vn_proxy_server_pid(const vn_proxy_server* server);
/* How long a reply may take before its peer counts as lost (default 10000 ms). */
void vn_proxy_server_set_reply_timeout(vn_proxy_server* server, int timeout_ms);

/* Creates a context and its worker, and initializes it with the shared seqno page (and an eventfd
 * when fence_eventfd is true). ctx_flags: low byte is the capset id (VN_PROXY_CAPSET_VENUS). */
int vn_proxy_context_create(vn_proxy_server* server, uint32_t ctx_id, const char* name,
                            uint32_t ctx_flags, bool fence_eventfd, vn_proxy_context** out);
/* Adopts a socket connected straight to a worker (`venus-render-server worker --single-context`)
 * and initializes the context on it. Takes ownership of fd in every case. */
int vn_proxy_context_adopt(int fd, vn_proxy_layout layout, uint32_t ctx_flags, bool fence_eventfd,
                           vn_proxy_context** out);
/* Destroys the context (DESTROY_CONTEXT when server-created) and closes everything it holds. */
void vn_proxy_context_destroy(vn_proxy_context* ctx);

int vn_proxy_context_submit_cmd(vn_proxy_context* ctx, const void* cmd, size_t size);
/* Submits a fence on ring; the proxy picks the seqno (per ring, from 1) and returns it. */
int vn_proxy_context_submit_fence(vn_proxy_context* ctx, uint32_t ring, uint32_t* out_seqno);
/* Latest retired seqno of ring, from the shared page. */
int vn_proxy_context_retired_seqno(vn_proxy_context* ctx, uint32_t ring, uint32_t* out_seqno);
/* Waits until seqno retired on ring (wrap-aware). timeout_ms < 0 waits forever. Returns
 * CONTEXT_LOST if the worker went away before the fence retired. */
int vn_proxy_context_wait_fence(vn_proxy_context* ctx, uint32_t ring, uint32_t seqno,
                                int timeout_ms);
/* The eventfd written on every retirement (for the VMM's poll loop), or -1 without one. */
int vn_proxy_context_fence_fd(const vn_proxy_context* ctx);

int vn_proxy_context_create_resource(vn_proxy_context* ctx, uint32_t res_id, uint64_t blob_id,
                                     uint64_t blob_size, uint32_t blob_flags, vn_proxy_blob* out);
/* Imports a DMABUF or SHM resource; fd is borrowed (a duplicate is sent). SHM fds must be memfds
 * sealed against shrinking, and hold at least size bytes. */
int vn_proxy_context_import_resource(vn_proxy_context* ctx, uint32_t res_id,
                                     vn_proxy_fd_type fd_type, int fd, uint64_t size);
int vn_proxy_context_destroy_resource(vn_proxy_context* ctx, uint32_t res_id);

/* How long a reply of this context's worker may take (default: the server's, or 10000 ms). */
void vn_proxy_context_set_reply_timeout(vn_proxy_context* ctx, int timeout_ms);
/* Non-blocking liveness check: CONTEXT_LOST once the worker hung up. */
int vn_proxy_context_check(vn_proxy_context* ctx);
bool vn_proxy_context_is_lost(const vn_proxy_context* ctx);
/* The context socket, for diagnostics and tests only; never send on it. */
int vn_proxy_context_socket_fd(const vn_proxy_context* ctx);

/* The Venus capset (struct virgl_renderer_capset_venus, little-endian u32 fields) that the VMM
 * hands the guest (virtio-gpu VIRTGPU_GET_CAPS, vtest GET_CAPSET). It is computed here, in the VMM
 * process, as virglrenderer does, from the protocol table the server's codec is generated from:
 * wire format, vk.xml version, the spec versions of VK_EXT_command_serialization and
 * VK_MESA_venus_protocol, and one mask bit per extension the protocol can encode (bit 0: the mask
 * is valid). supports_blob_id_0, allow_vk_wait_syncs and supports_multiple_timelines are 1;
 * use_guest_vram is 0 (not supported). Only version 0 of capset VN_PROXY_CAPSET_VENUS exists. */
#define VN_PROXY_CAPSET_VENUS_MAX_VERSION 0u
#define VN_PROXY_CAPSET_VENUS_SIZE 160u
/* max_version and max_size of a capset (virgl_renderer_get_cap_set); INVALID_ARGUMENT for an
 * unknown capset id. Either output may be NULL. */
int vn_proxy_get_capset_info(uint32_t capset_id, uint32_t* out_max_version, uint32_t* out_max_size);
/* Writes the capset into buf (size bytes; bytes past the capset are zeroed) and its size into
 * out_size (may be NULL). buf NULL with size 0 only reports the size. INVALID_ARGUMENT for an
 * unknown id or version, or a buffer smaller than the capset. */
int vn_proxy_get_capset(uint32_t capset_id, uint32_t version, void* buf, size_t size,
                        size_t* out_size);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* VENUS_PROXY_H */

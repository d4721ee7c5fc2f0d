#include "allocator.h"

#include <string>

#ifdef VN_JEMALLOC
#include <jemalloc/jemalloc.h>

#include <cstddef>
#include <cstdio>

// Why jemalloc: a worker's ring thread spends much of its time in the host driver's malloc and
// free. Lavapipe allocates every recorded command (Mesa's vk_cmd_queue) and frees them all when
// the command buffer is reset; with glibc's malloc that was 45 % of a ring thread recording the
// venus-bench throughput mix. The driver cannot be given an allocator of ours without
// VkAllocationCallbacks on every object, which would also reach drivers that ignore them, so
// the process's malloc is replaced instead: the server's, which every worker inherits by fork.
//
// The options, read by jemalloc at the server's first allocation (MALLOC_CONF in the server's
// environment still overrides them): per-thread caches of small sizes ten times deeper than the
// default, so that a command buffer's worth of driver allocations is freed into and served from
// the thread's cache instead of going back to the arena in between.
//
// Measured with venus-bench on lavapipe (2 cores, 5 rounds, one run): command throughput 0.65x
// of native with glibc's malloc, 0.79x with jemalloc's defaults, 0.88x with these options;
// worker PSS idle 14.6 MiB, 13.7 and 14.1; each of 8 workers 7.5 MiB, 6.4 and 6.7 (jemalloc gives
// freed pages back where glibc kept them). What it costs: a spare worker 0.6 MiB more, and
// creating a device 3 to 4 ms more (12.6 against 16 ms to a device). tcmalloc and mimalloc record
// faster still (0.85x with their defaults) but cost 17 % to 54 % more memory per worker.
extern "C" {
const char* malloc_conf =
    "tcache_nslots_small_min:200,tcache_nslots_small_max:2000,lg_tcache_nslots_mul:3";
}
#else
#include <malloc.h>
#endif

namespace vn::server {

std::string allocator_description() {
#ifdef VN_JEMALLOC
    const char* version = nullptr;
    std::size_t size = sizeof(version);
    std::string out = "jemalloc";
    if (mallctl("version", &version, &size, nullptr, 0) == 0 && version)
        out += std::string(" ") + version;
    unsigned max_slots = 0;
    size = sizeof(max_slots);
    if (mallctl("opt.tcache_nslots_small_max", &max_slots, &size, nullptr, 0) == 0)
        out += " (tcache_nslots_small_max " + std::to_string(max_slots) + ")";
    return out;
#else
    return "glibc malloc";
#endif
}

void release_free_memory() {
#ifdef VN_JEMALLOC
    // jemalloc keeps freed pages for a while (dirty_decay_ms) before it purges them.
    const std::string purge = "arena." + std::to_string(MALLCTL_ARENAS_ALL) + ".purge";
    (void)mallctl(purge.c_str(), nullptr, nullptr, nullptr, 0);
#else
    ::malloc_trim(0);
#endif
}

void fill_thread_cache() {
#ifdef VN_JEMALLOC
    // One block of each small size class, allocated and freed: the allocation refills the empty
    // cache bin from the arena (half the bin's slots), the free puts the block back. mallocx and
    // dallocx, not malloc and free, which a compiler may remove as a pair.
    unsigned bins = 0;
    std::size_t size = sizeof(bins);
    if (mallctl("arenas.nbins", &bins, &size, nullptr, 0) != 0)
        return;
    for (unsigned i = 0; i < bins; ++i) {
        char name[64];
        std::snprintf(name, sizeof(name), "arenas.bin.%u.size", i);
        std::size_t block = 0;
        size = sizeof(block);
        if (mallctl(name, &block, &size, nullptr, 0) != 0 || block == 0)
            continue;
        if (void* p = mallocx(block, 0))
            dallocx(p, 0);
    }
#endif
}

} // namespace vn::server

#pragma once
// The malloc the server and every worker it forks run on (allocator.cpp says why it is jemalloc).
#include <string>

namespace vn::server {

// "jemalloc <version>" with the options in force, or "glibc malloc": for --version and the
// start-up log, so that a figure can always be traced to the allocator it was measured with.
std::string allocator_description();

// Gives the pages of freed memory back to the kernel now (glibc: malloc_trim; jemalloc: a purge
// of every arena), so that a fork does not mark them copy-on-write in every worker.
void release_free_memory();

// Fills the calling thread's cache of free blocks (jemalloc's tcache) with blocks of every small
// size, for a process that forks: its children then take their first blocks from the copied cache,
// instead of each refilling it, which writes cache and arena pages the fork shares (a copy of each
// page in every child). For the zygote, before its first fork; nothing with glibc's malloc.
void fill_thread_cache();

} // namespace vn::server

#pragma once
// The preloaded driver's relocated read-only data, moved from anonymous memory into shared
// memory, so that forking a worker no longer copies its page tables.
//
// The dynamic linker writes every pointer a library holds to other code (vtables, GOT entries) into
// the library's GNU_RELRO segment at load time, then makes it read-only. Those pages are
// anonymous: fork() copies the page table entry of each one into every worker, marks them
// copy-on-write, and each worker's exit unmaps them again. With lavapipe preloaded, LLVM's RELRO
// alone is 8 MiB, two thirds of the server's anonymous memory. The same bytes in a sealed memfd,
// mapped read-only and private at the same address, are a file mapping that fork() leaves out (a
// worker faults in only the pages it reads, shared with every other process), and a worker that
// writes to one (after mprotect) gets a private copy, as it would have before.
//
// No library does this (Chromium's Android linker does the same for WebView's RELRO, by hand).
#include <cstddef>
#include <string>
#include <vector>

namespace vn::server {

struct SharedRelro {
    std::string object; // the library's path
    std::size_t bytes = 0;
};

// Moves the RELRO segment of every loaded library (not the main program) whose segment spans at
// least `min_bytes` (whole pages only: the segment's last partial page stays where the linker left
// it, writable data beside it). Only segments the linker has made read-only are moved; each is
// checked to hold the same bytes afterwards. Returns what was moved; `error` says why one was not.
std::vector<SharedRelro> share_relocated_read_only_data(std::size_t min_bytes, std::string& error);

} // namespace vn::server

#pragma once
// The code every worker runs, mapped into the zygote so that each fork gets it with its page
// tables instead of faulting it in anew.
//
// fork() leaves out the page table entries of a file mapping that holds no anonymous (written)
// page: the child faults each page in again when it first runs it, and the kernel maps 16 pages
// around each fault. Back-to-back context starts on lavapipe (a 2-core paravirtualised host,
// where a page fault costs 10 to 20 us) took about 40 such faults per context in the program's
// and its libraries' code and read-only data: half the faults of a context, about a millisecond
// of its CPU, the faults of the context's own phase on the way to its first reply.
//
// Once one page of such a mapping has been written (given a private copy), fork() copies every
// entry of it instead. So the zygote, once, writes one byte of each of these mappings with the
// value it already holds (through /proc/self/mem, as a debugger sets a breakpoint: the mapping
// stays read-only and whole) and faults the rest in (MADV_POPULATE_READ). Every spare it forks
// starts with that code mapped, shared with every other process, at the cost of copying a few
// thousand page table entries per fork and unmapping them at exit, far below the faults.
//
// Only the objects loaded with the program: the host driver (dlopen'ed by the preload) is large
// (lavapipe's LLVM alone is 100 MiB of code) and what of it a context runs depends on the guest.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace vn::server {

struct AddressRange {
    std::uintptr_t start = 0;
    std::uintptr_t end = 0;
};

// The address ranges of the program and the libraries loaded with it: to be called before
// anything is dlopen'ed (before the driver preload).
std::vector<AddressRange> startup_objects();

struct MappedCode {
    std::size_t mappings = 0; // read-only file mappings now copied by fork
    std::size_t bytes = 0;    // their size
};

// In the process that will fork (the zygote): makes fork() copy the read-only private file
// mappings (code, read-only data) that lie in `objects`, mapped in full. A mapping whose byte
// cannot be written this way (a kernel booted with proc_mem.force_override=never) is left as it
// is, and `error` says why.
MappedCode map_code_for_forks(const std::vector<AddressRange>& objects, std::string& error);

} // namespace vn::server

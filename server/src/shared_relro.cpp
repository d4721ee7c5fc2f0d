#include "shared_relro.h"

#include "proc_maps.h"
#include "vn/os/unique_fd.h"

#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

namespace vn::server {

namespace {

using os::UniqueFd;

struct Segment {
    std::uintptr_t start = 0;
    std::uintptr_t end = 0;
    std::string object;
};

struct Vma {
    std::uintptr_t start = 0;
    std::uintptr_t end = 0;
    std::string perms;
    std::string path;
};

std::vector<Vma> read_maps() {
    std::vector<Vma> vmas;
    (void)for_each_mapping([&vmas](const MapsEntry& m) {
        vmas.push_back({m.start, m.end, m.perms, std::string(m.path)});
    });
    return vmas;
}

// Whether [start, end) is mapped without gaps, read-only and private, and still where the linker
// put it (not already moved by an earlier call).
bool is_relocated_read_only(const std::vector<Vma>& vmas, std::uintptr_t start,
                            std::uintptr_t end) {
    std::uintptr_t at = start;
    for (const Vma& vma : vmas) {
        if (vma.end <= at || vma.start >= end)
            continue;
        if (vma.start > at || vma.perms != "r--p" || vma.path.find("vn-relro") != std::string::npos)
            return false;
        at = vma.end;
        if (at >= end)
            return true;
    }
    return false;
}

std::string base_name(const std::string& path) {
    const auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool write_all(int fd, const std::byte* data, std::size_t size) {
    while (size > 0) {
        const ssize_t n = ::write(fd, data, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        data += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

// One segment: its bytes into a memfd, sealed, mapped beside it and compared, then moved over it.
// mremap() replaces the old pages in one step, so nothing ever sees the range unmapped.
bool move_segment(const Segment& s, std::string& error) {
    const std::size_t size = s.end - s.start;
    // NOLINTNEXTLINE(performance-no-int-to-ptr): an address the dynamic linker reported
    auto* const where = reinterpret_cast<std::byte*>(s.start);
    const std::string name = "vn-relro:" + base_name(s.object);
    UniqueFd fd(::memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!fd || !write_all(fd.get(), where, size) ||
        ::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) !=
            0) {
        error = s.object + ": " + std::strerror(errno);
        return false;
    }
    void* staged = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd.get(), 0);
    if (staged == MAP_FAILED) {
        error = s.object + ": mmap: " + std::strerror(errno);
        return false;
    }
    if (std::memcmp(staged, where, size) != 0) {
        ::munmap(staged, size);
        error = s.object + ": the copy differs";
        return false;
    }
    if (::mremap(staged, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, where) == MAP_FAILED) {
        error = s.object + ": mremap: " + std::strerror(errno);
        ::munmap(staged, size);
        return false;
    }
    return true;
}

} // namespace

std::vector<SharedRelro> share_relocated_read_only_data(std::size_t min_bytes, std::string& error) {
    const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    struct Collect {
        std::uintptr_t page;
        std::vector<Segment> segments;
    } collect{page, {}};
    dl_iterate_phdr(
        [](dl_phdr_info* info, std::size_t, void* data) {
            auto& c = *static_cast<Collect*>(data);
            // Libraries only: the server's own RELRO is small, and a sanitizer build's globals
            // there carry redzones that must not be read as a whole.
            if (!info->dlpi_name || !info->dlpi_name[0])
                return 0;
            for (ElfW(Half) i = 0; i < info->dlpi_phnum; ++i) {
                const ElfW(Phdr)& ph = info->dlpi_phdr[i];
                if (ph.p_type != PT_GNU_RELRO)
                    continue;
                // The range the linker made read-only (glibc's _dl_protect_relro).
                const std::uintptr_t begin = info->dlpi_addr + ph.p_vaddr;
                const std::uintptr_t start = begin & ~(c.page - 1);
                const std::uintptr_t end = (begin + ph.p_memsz) & ~(c.page - 1);
                if (end > start)
                    c.segments.push_back({start, end, info->dlpi_name});
            }
            return 0;
        },
        &collect);

    std::vector<SharedRelro> moved;
    const std::vector<Vma> vmas = read_maps();
    for (const Segment& s : collect.segments) {
        if (s.end - s.start < min_bytes || !is_relocated_read_only(vmas, s.start, s.end))
            continue;
        if (move_segment(s, error))
            moved.push_back({s.object, s.end - s.start});
    }
    return moved;
}

} // namespace vn::server

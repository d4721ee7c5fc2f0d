#include "vn/sandbox/bpf_program.h"

#include "vn/os/unique_fd.h"

#include <fcntl.h>
#include <linux/seccomp.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vn::sandbox {

using os::UniqueFd;

std::optional<BpfProgram> BpfProgram::from_bytes(std::span<const std::byte> bytes,
                                                 std::string& error) {
    if (bytes.empty() || bytes.size() % sizeof(sock_filter) != 0) {
        error = "a seccomp BPF program is a non-empty array of 8-byte instructions, got " +
                std::to_string(bytes.size()) + " bytes";
        return std::nullopt;
    }
    const std::size_t count = bytes.size() / sizeof(sock_filter);
    if (count > BPF_MAXINSNS) {
        error = "seccomp BPF program has " + std::to_string(count) +
                " instructions, the kernel "
                "takes at most " +
                std::to_string(BPF_MAXINSNS);
        return std::nullopt;
    }
    BpfProgram program;
    program.m_insns.resize(count);
    std::memcpy(program.m_insns.data(), bytes.data(), bytes.size());
    return program;
}

std::optional<BpfProgram> BpfProgram::from_file(const std::string& path, std::string& error) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) != 0) {
        error = path + ": " + std::strerror(errno);
        return std::nullopt;
    }
    if (!S_ISREG(st.st_mode) ||
        st.st_size > static_cast<off_t>(BPF_MAXINSNS * sizeof(sock_filter))) {
        error = path + ": not a regular file of at most " +
                std::to_string(BPF_MAXINSNS * sizeof(sock_filter)) + " bytes";
        return std::nullopt;
    }
    std::vector<std::byte> bytes(static_cast<std::size_t>(st.st_size));
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::read(fd.get(), bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            error = path + ": short read";
            return std::nullopt;
        }
        done += static_cast<std::size_t>(n);
    }
    auto program = from_bytes(bytes, error);
    if (!program)
        error = path + ": " + error;
    return program;
}

bool BpfProgram::install(std::string& error) const {
    sock_fprog prog{};
    prog.len = static_cast<unsigned short>(m_insns.size());
    prog.filter = const_cast<sock_filter*>(m_insns.data());
    if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
        error = std::string("seccomp(SECCOMP_SET_MODE_FILTER): ") + std::strerror(errno);
        return false;
    }
    return true;
}

} // namespace vn::sandbox

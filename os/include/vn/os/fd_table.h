#pragma once
// The fd table of a freshly forked child: everything from `first` up is closed but `keep`.
// close_range(2) on the gaps, so the cost does not grow with RLIMIT_NOFILE.
#include <linux/close_range.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

namespace vn::os {

// keep: fds below `first` are ignored, duplicates are fine. False (errno set) where close_range
// failed; fds may then be left open.
inline bool close_fds_from(int first, std::vector<int> keep) {
    std::erase_if(keep, [first](int fd) { return fd < first; });
    std::sort(keep.begin(), keep.end());
    keep.erase(std::unique(keep.begin(), keep.end()), keep.end());
    auto next = static_cast<unsigned>(first);
    for (const int fd : keep) {
        if (static_cast<unsigned>(fd) > next &&
            ::syscall(SYS_close_range, next, static_cast<unsigned>(fd) - 1, 0) != 0)
            return false;
        next = static_cast<unsigned>(fd) + 1;
    }
    return ::syscall(SYS_close_range, next, ~0u, 0) == 0;
}

} // namespace vn::os

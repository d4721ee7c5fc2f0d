// Writes the seed corpus: recorded streams as a real driver would send them (see
// tests/support/vn/test/recorded_stream.cpp). Run by hand when the recording changes:
//   build/tests/fuzz/vn_fuzz_make_seeds tests/fuzz/corpus
#include "vn/test/recorded_stream.h"

#include <cstdio>
#include <fstream>
#include <string>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    for (std::size_t batches : {0u, 1u, 3u}) {
        auto s = vn::test::record_command_buffer_stream(batches);
        // The first byte of a fuzz input chooses where the stream is split into two submits.
        for (int split : {0, 128}) {
            std::string path = std::string(argv[1]) + "/recorded-" + std::to_string(batches) + "-" +
                               std::to_string(split);
            std::ofstream f(path, std::ios::binary);
            f.put(static_cast<char>(split));
            f.write(reinterpret_cast<const char*>(s.bytes.data()),
                    static_cast<std::streamsize>(s.bytes.size()));
        }
    }
    return 0;
}

#include "bench.h"

#include <algorithm>
#include <cmath>

namespace vn::bench {

// Nearest-rank percentile: always one of the samples, so p50 <= p99 holds by construction.
double percentile(std::vector<double> samples, double q) {
    if (samples.empty())
        return NAN;
    std::sort(samples.begin(), samples.end());
    const double rank = std::ceil(q * static_cast<double>(samples.size()));
    const auto index = static_cast<std::size_t>(std::max(1.0, rank)) - 1;
    return samples[std::min(index, samples.size() - 1)];
}

double median(std::vector<double> values) {
    if (values.empty())
        return NAN;
    std::sort(values.begin(), values.end());
    const std::size_t n = values.size();
    return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

} // namespace vn::bench

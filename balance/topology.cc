// LPLB copy layouts (ring, cube, hypercube, torus, full, file) and the placement
// they induce: experts packed onto ranks without replication, then each rank's
// redundant slots copy the hottest experts of the ranks its r2o row names.
#include "balance/topology.h"

#include <algorithm>
#include <cstdio>
#include <numeric>

#include "balance/eplb.h"
#include "common/check.h"

namespace wideep {
namespace {

// DeepSeek LPLB's cube layout for 8 ranks, 2 redundant slots each.
constexpr int kCubeR2o[8][2] = {{3, 6}, {0, 7}, {1, 4}, {2, 5}, {7, 0}, {4, 1}, {5, 2}, {6, 3}};

[[noreturn]] void bad_topology(const std::string& spec, const std::string& why) {
  throw UsageError("--topology " + spec + ": " + why);
}

void require_groups(const Topology& t, const std::string& spec, int num_ranks) {
  if (num_ranks <= 0 || num_ranks % t.group_size != 0)
    bad_topology(spec, "needs a rank count that is a multiple of " +
                           std::to_string(t.group_size) + ", got " + std::to_string(num_ranks));
}

Topology torus(const std::string& spec, int num_ranks) {
  int m = 0, n = 0;
  char tail = 0;
  if (std::sscanf(spec.c_str() + 6, "%dx%d%c", &m, &n, &tail) != 2 || m < 2 || n < 2)
    bad_topology(spec, "expected torus:MxN with M, N >= 2");
  Topology t{spec, m * n, 2, std::vector<int>(static_cast<size_t>(m) * n * 2)};
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      t.r2o[(i * n + j) * 2 + 0] = ((i + 1) % m) * n + j;
      t.r2o[(i * n + j) * 2 + 1] = i * n + (j + 1) % n;
    }
  }
  require_groups(t, spec, num_ranks);
  return t;
}

}  // namespace

Topology make_topology(const std::string& spec, int num_ranks) {
  Topology t;
  t.name = spec;
  if (spec == "ring" || spec == "full") {
    if (num_ranks < 2) bad_topology(spec, "needs at least 2 ranks");
    t.group_size = num_ranks;
    t.redundant_per_rank = spec == "ring" ? 1 : num_ranks - 1;
    t.r2o.resize(static_cast<size_t>(num_ranks) * t.redundant_per_rank);
    for (int i = 0; i < num_ranks; ++i)
      for (int d = 0; d < t.redundant_per_rank; ++d)
        t.r2o[i * t.redundant_per_rank + d] = (i + d + 1) % num_ranks;
  } else if (spec == "cube") {
    t.group_size = 8;
    t.redundant_per_rank = 2;
    for (const auto& row : kCubeR2o) t.r2o.insert(t.r2o.end(), row, row + 2);
  } else if (spec == "hypercube") {
    t.group_size = 16;
    t.redundant_per_rank = 2;
    for (int i = 0; i < 16; ++i) {
      t.r2o.push_back(i / 4 * 4 + (i + 1) % 4);  // 4-rings {0-3}, {4-7}, ...
      t.r2o.push_back((i + 12) % 16);            // (i - 4) mod 16
    }
  } else if (spec.rfind("torus:", 0) == 0) {
    return torus(spec, num_ranks);
  } else {
    bad_topology(spec, "unknown topology (ring, cube, hypercube, torus:MxN, full, file:PATH)");
  }
  require_groups(t, spec, num_ranks);
  return t;
}

Topology topology_from_r2o(const std::vector<std::vector<int>>& r2o, int num_ranks,
                           const std::string& what) {
  auto bad = [&](const std::string& why) { throw UsageError(what + ": " + why); };
  if (r2o.empty() || r2o[0].empty()) bad("r2o must be a non-empty matrix");
  const int g = static_cast<int>(r2o.size());
  const int d = static_cast<int>(r2o[0].size());
  Topology t{"file", g, d, {}};
  for (int i = 0; i < g; ++i) {
    if (static_cast<int>(r2o[i].size()) != d)
      bad("r2o row " + std::to_string(i) + " has " + std::to_string(r2o[i].size()) +
          " entries, row 0 has " + std::to_string(d));
    for (int j : r2o[i]) {
      if (j < 0 || j >= g)
        bad("r2o row " + std::to_string(i) + " names rank " + std::to_string(j) +
            ", outside [0, " + std::to_string(g) + ")");
      if (j == i) bad("r2o row " + std::to_string(i) + " copies its own rank");
      t.r2o.push_back(j);
    }
  }
  if (num_ranks <= 0 || num_ranks % g != 0)
    bad("r2o has " + std::to_string(g) + " rows; the rank count " + std::to_string(num_ranks) +
        " is not a multiple of it");
  return t;
}

Placement topology_placement(const Topology& t, int num_ranks, int num_logical,
                             const double* loads) {
  if (t.group_size <= 0 || num_ranks % t.group_size != 0)
    throw UsageError("--topology " + t.name + ": rank count " + std::to_string(num_ranks) +
                     " is not a multiple of the group size " + std::to_string(t.group_size));
  if (num_logical <= 0 || num_logical % num_ranks != 0)
    throw UsageError("--topology " + t.name + ": " + std::to_string(num_logical) +
                     " experts do not divide among " + std::to_string(num_ranks) + " ranks");
  const int per_rank = num_logical / num_ranks;
  const int d_count = t.redundant_per_rank;
  const int slots = per_rank + d_count;
  std::vector<double> w(num_logical, 0.0);
  if (loads) w.assign(loads, loads + num_logical);
  std::vector<int> pack(num_logical), pos(num_logical);
  balanced_packing(w.data(), num_logical, num_ranks, pack.data(), pos.data());

  // Each rank's own experts, hottest first (ties: lowest expert id).
  std::vector<int> own(static_cast<size_t>(num_ranks) * per_rank);
  for (int e = 0; e < num_logical; ++e) own[pack[e] * per_rank + pos[e]] = e;
  std::vector<int> p2l(static_cast<size_t>(num_ranks) * slots);
  std::vector<int> hot(own);
  for (int r = 0; r < num_ranks; ++r) {
    auto* b = &hot[static_cast<size_t>(r) * per_rank];
    std::stable_sort(b, b + per_rank, [&](int a, int c) { return w[a] > w[c] || (w[a] == w[c] && a < c); });
    std::copy(&own[static_cast<size_t>(r) * per_rank], &own[static_cast<size_t>(r) * per_rank] + per_rank,
              &p2l[static_cast<size_t>(r) * slots]);
  }
  // The k-th copier of rank j (copiers in rank, then slot order) takes j's k-th hottest.
  std::vector<int> copiers(num_ranks, 0);
  for (int r = 0; r < num_ranks; ++r) {
    const int base = r / t.group_size * t.group_size;
    for (int d = 0; d < d_count; ++d) {
      const int j = base + t.r2o[(r - base) * d_count + d];
      const int k = copiers[j]++ % per_rank;
      p2l[static_cast<size_t>(r) * slots + per_rank + d] = hot[static_cast<size_t>(j) * per_rank + k];
    }
  }
  return Placement::from_phy2log(num_ranks, num_logical, p2l, "--topology " + t.name);
}

}  // namespace wideep

// LPLB copy layouts: which rank's experts each redundant slot copies. r2o[i * D + d]
// is the rank (within the group) whose expert rank i's redundant slot d copies.
// A rank count that is a multiple of the topology's size forms independent groups.
#pragma once

#include <string>
#include <vector>

#include "balance/placement.h"

namespace wideep {

struct Topology {
  std::string name;        // ring, cube, hypercube, torus:MxN, full, file
  int group_size = 0;      // ranks per group
  int redundant_per_rank = 0;  // D
  std::vector<int> r2o;    // [group_size * D]
};

// Builds ring | cube | hypercube | torus:MxN | full for num_ranks ranks (the
// group size of ring and full is num_ranks). Throws UsageError naming
// --topology when the spec is unknown or cannot serve num_ranks.
Topology make_topology(const std::string& spec, int num_ranks);

// From a parsed r2o matrix (the runtime reads file:PATH); validates edges.
Topology topology_from_r2o(const std::vector<std::vector<int>>& r2o, int num_ranks,
                           const std::string& what);

// Placement for LPLB: experts packed onto ranks by balanced_packing without
// replication (E / R per rank, by the loads), then rank i's redundant slot d
// holds a copy of one of the hottest experts of rank r2o[i][d] (the k-th rank
// that copies rank j gets j's k-th hottest expert). loads: [E].
Placement topology_placement(const Topology& t, int num_ranks, int num_logical,
                             const double* loads);

}  // namespace wideep

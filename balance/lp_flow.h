// Internal to balance/: a compact Dinic max-flow on int64 capacities whose
// arrays are kept between solves (no allocation once a graph size was seen).
// Used by the LPLB solver (experts -> ranks) and nowhere else.
#pragma once

#include <cstdint>
#include <vector>

namespace wideep {
namespace detail {

class MaxFlow {
 public:
  static constexpr int64_t kInf = INT64_MAX / 4;

  // Starts a graph of n nodes; edges are added as forward/reverse pairs.
  void reset(int num_nodes);
  // Returns the id of the forward edge; id ^ 1 is its reverse.
  int add_edge(int from, int to);
  // Builds the adjacency (CSR) once all edges are added.
  void finalize();

  // Capacity of edge id with no flow on it (the reverse gets 0).
  void set_capacity(int id, int64_t cap) {
    cap_[id] = cap;
    cap_[id ^ 1] = 0;
  }
  // Pushes `amount` along edge id (its residual must allow it).
  void push(int id, int64_t amount) {
    cap_[id] -= amount;
    cap_[id ^ 1] += amount;
  }
  int64_t residual(int id) const { return cap_[id]; }
  int64_t flow(int id) const { return cap_[id ^ 1]; }

  // Augments the current flow to a maximum one; returns the amount added.
  int64_t augment(int source, int sink);
  // After augment(): whether node v is on the source side of the minimum cut.
  bool source_side(int v) const { return level_[v] >= 0; }

 private:
  bool bfs(int source, int sink);
  int64_t dfs(int v, int sink, int64_t limit);

  int n_ = 0;
  std::vector<int> from_, to_;   // [edges]
  std::vector<int64_t> cap_;     // [edges] residual capacity
  std::vector<int> adj_start_;   // [n + 1]
  std::vector<int> adj_;         // edge ids, grouped by tail node
  std::vector<int> level_, it_, queue_;
};

}  // namespace detail
}  // namespace wideep

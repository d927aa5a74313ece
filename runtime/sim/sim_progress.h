// The progress line of `wideep sim` on stderr: "sim: step 37/100 (layer 0)
// 4.2 s", rewritten in place (\r) at most a few times a second and erased when
// the run ends, so that a long simulation says it is alive while the table and
// JSON stay as they are. Only where stderr is a terminal, never with --quiet.
#pragma once

#include <cstdio>

namespace wideep {

class SimProgress {
 public:
  // out: where the line goes (stderr); enabled false: a no-op (not a terminal,
  // or --quiet). total_steps: warm-up and measured.
  SimProgress(std::FILE* out, bool enabled, int total_steps);
  ~SimProgress();  // erases the line (also when the run ends by an error)
  SimProgress(const SimProgress&) = delete;
  SimProgress& operator=(const SimProgress&) = delete;

  // Before layer `layer` of step `step` (0-based): redraws the line when the
  // last draw is older than kMinRedrawS (the first call draws at once).
  void update(int step, int layer);
  // Erases the line (idempotent).
  void finish();

  // Whether this process's stderr is a terminal and the run is not --quiet.
  static bool wanted(bool quiet);

  static constexpr double kMinRedrawS = 0.25;

 private:
  std::FILE* out_;
  bool enabled_;
  int total_steps_;
  double start_s_ = 0, last_draw_s_ = -1;
  int drawn_width_ = 0;  // characters of the line on screen (0: none)
};

}  // namespace wideep

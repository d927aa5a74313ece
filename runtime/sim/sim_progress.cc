// SimProgress: the throttled, self-erasing progress line of `wideep sim`.
#include "runtime/sim/sim_progress.h"

#include <unistd.h>

#include "common/clock.h"

namespace wideep {

SimProgress::SimProgress(std::FILE* out, bool enabled, int total_steps)
    : out_(out), enabled_(enabled), total_steps_(total_steps), start_s_(now_s()) {}

SimProgress::~SimProgress() { finish(); }

bool SimProgress::wanted(bool quiet) { return !quiet && isatty(fileno(stderr)) == 1; }

void SimProgress::update(int step, int layer) {
  if (!enabled_) return;
  const double t = now_s();
  if (last_draw_s_ >= 0 && t - last_draw_s_ < kMinRedrawS) return;
  last_draw_s_ = t;
  char line[96];
  const int width =
      std::snprintf(line, sizeof line, "sim: step %d/%d (layer %d) %.1f s", step + 1, total_steps_, layer, t - start_s_);
  // Padded to the widest line drawn so that a shorter one leaves no tail.
  std::fprintf(out_, "\r%s%*s", line, drawn_width_ > width ? drawn_width_ - width : 0, "");
  if (width > drawn_width_) drawn_width_ = width;
  std::fflush(out_);
}

void SimProgress::finish() {
  if (!enabled_ || drawn_width_ == 0) return;
  std::fprintf(out_, "\r%*s\r", drawn_width_, "");
  std::fflush(out_);
  drawn_width_ = 0;
}

}  // namespace wideep

// wideep plan: placeholder until its issue lands; says so and exits 2.
#include <cstdio>

#include "runtime/commands.h"

namespace wideep {
int plan_main(int, char**) {
  std::fprintf(stderr, "wideep plan: not built yet\n");
  return 2;
}
}  // namespace wideep

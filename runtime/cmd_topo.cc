// wideep topo: placeholder until its issue lands; says so and exits 2.
#include <cstdio>

#include "runtime/commands.h"

namespace wideep {
int topo_main(int, char**) {
  std::fprintf(stderr, "wideep topo: not built yet\n");
  return 2;
}
}  // namespace wideep

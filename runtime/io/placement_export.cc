// Writers of wideep's, SGLang's and vLLM's placement JSON.
#include "runtime/io/placement_export.h"

#include <fstream>

#include "common/check.h"
#include "runtime/io/plan_json.h"

namespace wideep {
void write_placement_file(const std::string& path, const std::string& option, const std::vector<Placement>& ps,
                          const std::string& format) {
  std::ofstream out(path, std::ios::trunc);
  out << placement_json(ps, format).dump() << "\n";
  if (!out) throw Error(ErrorCategory::kSystem, option + " " + path + ": write failed");
}

}  // namespace wideep

// Reading a user's JSON file into nlohmann::json, with the one error shape.
#include "runtime/io/json_file.h"

#include <fstream>

#include "common/check.h"

namespace wideep {

nlohmann::json read_json_file(const std::string& path, const std::string& what) {
  std::ifstream in(path);
  if (!in) throw UsageError(what + ": cannot open the file");
  try {
    return nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw UsageError(what + ": not valid JSON (" + e.what() + ")");
  }
}

}  // namespace wideep

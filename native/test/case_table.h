// Reads test/cases/codec-cases.json (the one case table shared with the TS, GPU and benchmark
// code) with a minimal JSON reader: objects, arrays, numbers, strings, true/false/null.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace parm_test {

struct json {
  enum kind_t { null_v, bool_v, number_v, string_v, array_v, object_v } kind = null_v;
  bool b = false;
  double num = 0;
  std::string str;
  std::vector<json> arr;
  std::map<std::string, json> obj;

  bool is_null() const { return kind == null_v; }
  bool has(const std::string& key) const { return obj.count(key) != 0; }
  const json& operator[](const std::string& key) const;
  const json& operator[](std::size_t i) const { return arr.at(i); }
  std::size_t size() const { return kind == array_v ? arr.size() : obj.size(); }
  std::size_t as_size() const { return static_cast<std::size_t>(num); }
};

// Parses a file; throws std::runtime_error with the offset on malformed input.
json load_json(const std::string& path);

}  // namespace parm_test

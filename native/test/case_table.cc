// Minimal JSON reader for the case table (see case_table.h).
#include "case_table.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace parm_test {
namespace {

struct parser {
  const std::string& s;
  std::size_t i = 0;

  [[noreturn]] void fail(const char* what) {
    throw std::runtime_error(std::string("case table: ") + what + " at offset " + std::to_string(i));
  }
  void ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) ++i;
  }
  bool eat(char c) {
    ws();
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  }
  std::string string_lit() {
    if (!eat('"')) fail("expected string");
    std::string out;
    while (i < s.size() && s[i] != '"') {
      if (s[i] == '\\') {
        ++i;
        if (i >= s.size()) fail("bad escape");
        const char e = s[i];
        out += e == 'n' ? '\n' : e == 't' ? '\t' : e;
      } else {
        out += s[i];
      }
      ++i;
    }
    if (i >= s.size()) fail("unterminated string");
    ++i;
    return out;
  }
  json value() {
    ws();
    json v;
    if (i >= s.size()) fail("unexpected end");
    const char c = s[i];
    if (c == '{') {
      ++i;
      v.kind = json::object_v;
      if (eat('}')) return v;
      do {
        std::string key = string_lit();
        if (!eat(':')) fail("expected ':'");
        v.obj[key] = value();
      } while (eat(','));
      if (!eat('}')) fail("expected '}'");
    } else if (c == '[') {
      ++i;
      v.kind = json::array_v;
      if (eat(']')) return v;
      do v.arr.push_back(value());
      while (eat(','));
      if (!eat(']')) fail("expected ']'");
    } else if (c == '"') {
      v.kind = json::string_v;
      v.str = string_lit();
    } else if (s.compare(i, 4, "null") == 0) {
      i += 4;
    } else if (s.compare(i, 4, "true") == 0) {
      i += 4;
      v.kind = json::bool_v;
      v.b = true;
    } else if (s.compare(i, 5, "false") == 0) {
      i += 5;
      v.kind = json::bool_v;
    } else {
      char* end = nullptr;
      v.num = std::strtod(s.c_str() + i, &end);
      if (end == s.c_str() + i) fail("bad value");
      i = static_cast<std::size_t>(end - s.c_str());
      v.kind = json::number_v;
    }
    return v;
  }
};

}  // namespace

const json& json::operator[](const std::string& key) const {
  static const json null_json;
  auto it = obj.find(key);
  return it == obj.end() ? null_json : it->second;
}

json load_json(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot open " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string text = ss.str();
  parser p{text};
  json v = p.value();
  return v;
}

}  // namespace parm_test

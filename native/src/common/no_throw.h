// The core never throws across its public headers (status.h): no_throw runs a body that may
// allocate and turns an allocation failure into status_code::out_of_memory.
#pragma once

#include <new>
#include <string>

#include "parm/status.h"

namespace parm {

template <class Body>
status no_throw(const char* op, Body body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    try {
      return status::error(status_code::out_of_memory, std::string(op) + ": out of host memory");
    } catch (...) {
      return status{status_code::out_of_memory, {}};
    }
  }
}

}  // namespace parm

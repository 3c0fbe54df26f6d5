// Status values returned by every public function of the parm core: the core never throws across
// these headers and never aborts; the glue layer turns a status into a JS error.
#pragma once
#include <string>
#include <utility>

namespace parm {

enum class status_code : int {
  ok = 0,
  invalid_argument,  // a size, count or option the caller got wrong
  singular,          // the chosen erasures leave a singular linear system
  unsupported,       // not available in this build or on this machine (ISA, CUDA)
  cuda_error,        // a CUDA runtime or kernel error (message carries file:line and CUDA text)
  no_device,         // CUDA compiled in but no usable device
  out_of_memory,     // host or device memory could not be allocated (scratch, device buffers)
};

struct status {
  status_code code = status_code::ok;
  std::string message;

  bool ok() const { return code == status_code::ok; }
  static status success() { return {}; }
  static status error(status_code c, std::string msg) { return status{c, std::move(msg)}; }
};

// The PARM_ERR_CODEC_* name of a status code ("OK" for ok), as listed in src/errors.ts; every code
// has its own name. Defined in native/src/common/status.cc.
const char* status_code_name(status_code c);

}  // namespace parm

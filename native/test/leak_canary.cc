// ctest (sanitized builds only): leaks one allocation on purpose. Its test passes only when
// LeakSanitizer reports the leak, so a sanitizer run in which leak checking silently stopped
// working (an environment without ptrace, a changed ASAN_OPTIONS) fails instead of passing.
#include <cstdio>
#include <cstdlib>

void* volatile g_sink;

int main() {
  void* p = std::malloc(4242);
  g_sink = p;
  g_sink = nullptr;  // the only pointer is gone: a definite leak at exit
  std::printf("leaked 4242 bytes; LeakSanitizer should report them\n");
  return 0;
}

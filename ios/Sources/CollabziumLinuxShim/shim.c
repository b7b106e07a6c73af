// Linux only (see Package.swift). swiftlang 6.0.3's libswiftObservation.so refers to
// swift::threading::fatal(const char *, ...) but the runtime it ships does not export it, so
// linking anything that uses @Observable fails. This defines it: print and abort, as the
// runtime's own would. Swift 6.2 no longer needs this target.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "CollabziumLinuxShim.h"

__attribute__((noreturn, visibility("default")))
void collabzium_swift_threading_fatal(const char *format, ...) __asm__("_ZN5swift9threading5fatalEPKcz");

void collabzium_swift_threading_fatal(const char *format, ...) {
    va_list args;
    va_start(args, format);
    vfprintf(stderr, format, args);
    va_end(args);
    fflush(stderr);
    abort();
}

int collabzium_linux_shim_linked(void) { return 1; }

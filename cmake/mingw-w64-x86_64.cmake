# Cross-compiling tether for 64-bit Windows with mingw-w64 on Debian:
#
#   cmake/win-deps.sh /opt/tether-win-deps
#   cmake -S . -B build-win -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64-x86_64.cmake \
#         -DTETHER_WIN_DEPS_DIR=/opt/tether-win-deps
#
# Tests run under Wine (CMAKE_CROSSCOMPILING_EMULATOR), see docs/WINDOWS.md.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(TETHER_MINGW_TRIPLE x86_64-w64-mingw32)
# The win32 thread model: no libwinpthread DLL for the executables to find.
find_program(CMAKE_C_COMPILER NAMES ${TETHER_MINGW_TRIPLE}-gcc-win32 ${TETHER_MINGW_TRIPLE}-gcc
             REQUIRED)
find_program(CMAKE_RC_COMPILER NAMES ${TETHER_MINGW_TRIPLE}-windres)

set(CMAKE_FIND_ROOT_PATH /usr/${TETHER_MINGW_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Static libgcc (and everything else that has a static form), so the
# executables need only system DLLs and run under Wine as they are.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static -static-libgcc")

# ctest runs the test executables through Wine when it is installed.
find_program(TETHER_WINE NAMES wine wine64)
if(TETHER_WINE)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${TETHER_WINE})
endif()

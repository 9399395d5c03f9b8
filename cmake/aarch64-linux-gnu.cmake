# Cross-compiling for linux-arm64 (glibc) on a Debian/Ubuntu machine with g++-aarch64-linux-gnu
# (apt-get install g++-aarch64-linux-gnu): used by `npm run prebuildify -- --arch arm64` and
# scripts/test-arm64.sh. The cross compiler brings the arm64 libc, libstdc++, libgcc and libgomp
# under /usr/aarch64-linux-gnu.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CC_CROSS_PREFIX aarch64-linux-gnu-)
set(CMAKE_C_COMPILER ${CC_CROSS_PREFIX}gcc)
set(CMAKE_CXX_COMPILER ${CC_CROSS_PREFIX}g++)
set(CMAKE_STRIP ${CC_CROSS_PREFIX}strip)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# What `cmake --install` puts under the prefix (included at the end of the
# root CMakeLists.txt, once every library target exists):
#
#   include/tether/*.h                   the public headers
#   lib/libtether_parent.so.0.2.0 (+ .so.0.2, .so), lib/libtether_parent.a
#   lib/libtether_runner.so.0.2.0 (+ .so.0.2, .so), lib/libtether_runner.a
#   bin/tether-run, bin/tether-runner
#   share/man/man1/tether-run.1, tether-runner.1; share/man/man3/tether.3
#   lib/cmake/tether/                    find_package(tether): tether::parent,
#                                        tether::runner and their _static twins
#   lib/pkgconfig/tether-parent.pc, tether-runner.pc (--static for the .a)
#
# Both forms of a library hold the same objects: those of the in-tree area
# libraries (transport, codec, sandbox, ...), compiled once, PIC
# (CMAKE_POSITION_INDEPENDENT_CODE) and with hidden visibility, so a .so
# exports exactly the TETHER_EXTERN functions of the public headers. The
# codec runtimes are private dependencies of the .so (protobuf-c shared;
# nanopb linked in and kept out of libtether_runner's exports) and
# interface dependencies of the .a (find_package / pkg-config --static
# bring them). The executables stay statically linked against the in-tree
# libraries (they need no library path).
include(CMakePackageConfigHelpers)

set(TETHER_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/tether)
# The soname changes whenever the ABI may: with every minor release while
# the major version is 0 (libtether_parent.so.0.2), with the major after.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(TETHER_SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
else()
  set(TETHER_SOVERSION ${PROJECT_VERSION_MAJOR})
endif()
set(TETHER_PUBLIC_HEADERS
  parent.h runner.h error.h limits.h wire.h os.h os_posix.h os_win.h export.h)
list(TRANSFORM TETHER_PUBLIC_HEADERS PREPEND ${PROJECT_SOURCE_DIR}/include/tether/)
list(APPEND TETHER_PUBLIC_HEADERS ${PROJECT_BINARY_DIR}/include/tether/version.h)
install(FILES ${TETHER_PUBLIC_HEADERS}
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tether)

# Man pages, written in mdoc by hand (docs/man/; tests/man.cmake lints them).
install(FILES ${PROJECT_SOURCE_DIR}/docs/man/tether-run.1
              ${PROJECT_SOURCE_DIR}/docs/man/tether-runner.1
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${PROJECT_SOURCE_DIR}/docs/man/tether.3
              ${PROJECT_SOURCE_DIR}/docs/man/tether_capture.3
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man3)

foreach(exe tether-run tether-runner)
  if(TARGET ${exe})
    install(TARGETS ${exe} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  endif()
endforeach()

if(WIN32)
  # The shared libraries (DLLs with TETHER_SHARED), the package and the
  # pkg-config files come with the Windows port; headers only until then.
  return()
endif()

# Linker flags that not every linker has are probed, never assumed.
include(CheckCSourceCompiles)
function(tether_check_link_flag flag var)
  set(CMAKE_REQUIRED_LINK_OPTIONS ${flag})
  check_c_source_compiles("int main(void) { return 0; }" ${var})
endfunction()
# Every undefined symbol must come from a listed dependency (catches a
# missing private link); the sanitizer runtimes resolve at load time.
tether_check_link_flag(-Wl,--no-undefined TETHER_LD_NO_UNDEFINED)
# nanopb's static runtime has default visibility: keep pb_* out of
# libtether_runner.so's exports where the linker can.
tether_check_link_flag(-Wl,--exclude-libs,ALL TETHER_LD_EXCLUDE_LIBS)

# tether_add_installed(<lib> AREAS <area libraries...> DEPS <runtimes...>):
# libtether_<lib> twice from the same compiled objects (the area
# libraries' $<TARGET_OBJECTS>, PIC, hidden visibility): SHARED
# tether_<lib>_shared (tether::<lib>) and STATIC tether_<lib>_static
# (tether::<lib>_static). DEPS, the codec runtimes, are private to the
# shared library and an interface dependency of the static one.
function(tether_add_installed lib)
  cmake_parse_arguments(I "" "" "AREAS;DEPS" ${ARGN})
  set(objs "")
  foreach(area ${I_AREAS})
    list(APPEND objs $<TARGET_OBJECTS:${area}>)
  endforeach()
  add_library(tether_${lib}_shared SHARED ${objs})
  add_library(tether_${lib}_static STATIC ${objs})
  target_link_libraries(tether_${lib}_shared PRIVATE ${I_DEPS})
  foreach(dep ${I_DEPS})
    target_link_libraries(tether_${lib}_static INTERFACE $<LINK_ONLY:${dep}>)
  endforeach()
  set_target_properties(tether_${lib}_shared PROPERTIES
    OUTPUT_NAME tether_${lib} EXPORT_NAME ${lib}
    VERSION ${PROJECT_VERSION} SOVERSION ${TETHER_SOVERSION}
    LIBRARY_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/lib)
  set_target_properties(tether_${lib}_static PROPERTIES
    OUTPUT_NAME tether_${lib} EXPORT_NAME ${lib}_static
    ARCHIVE_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/lib)
  if(TETHER_LD_NO_UNDEFINED AND NOT TETHER_SANITIZE AND NOT TETHER_FUZZ)
    target_link_options(tether_${lib}_shared PRIVATE -Wl,--no-undefined)
  endif()
  if(TETHER_LD_EXCLUDE_LIBS)
    target_link_options(tether_${lib}_shared PRIVATE -Wl,--exclude-libs,ALL)
  endif()
  foreach(t tether_${lib}_shared tether_${lib}_static)
    target_include_directories(${t} INTERFACE
      $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
      $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/include>
      $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  endforeach()
  add_library(tether::${lib} ALIAS tether_${lib}_shared)
  add_library(tether::${lib}_static ALIAS tether_${lib}_static)
endfunction()

if(TARGET tether_parent)
  tether_add_installed(parent
    AREAS tether_parent tether_sandbox tether_codec_pbc tether_msg tether_gen_pbc
          tether_transport
    DEPS PkgConfig::PROTOBUF_C)
  list(APPEND tether_installed_targets tether_parent_shared tether_parent_static)
endif()
if(TARGET tether_runner)
  tether_add_installed(runner
    AREAS tether_runner tether_sandbox tether_conpty tether_codec_nanopb tether_msg
          tether_gen_nanopb tether_transport
    DEPS nanopb::protobuf-nanopb-static)
  list(APPEND tether_installed_targets tether_runner_shared tether_runner_static)
endif()
if(NOT tether_installed_targets)
  return()
endif()

install(TARGETS ${tether_installed_targets} EXPORT tetherTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(EXPORT tetherTargets NAMESPACE tether::
        DESTINATION ${TETHER_CMAKE_DIR})

# find_package(tether [0.1] [COMPONENTS parent runner]). While the major
# version is 0, a minor release may break the API: only 0.1.x satisfies 0.1.
configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/tetherConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cmake/tetherConfig.cmake
  INSTALL_DESTINATION ${TETHER_CMAKE_DIR})
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/cmake/tetherConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/cmake/tetherConfig.cmake
              ${PROJECT_BINARY_DIR}/cmake/tetherConfigVersion.cmake
        DESTINATION ${TETHER_CMAKE_DIR})

# pkg-config files, relocatable: prefix is found from the .pc file's own
# place (${pcfiledir}), so `cmake --install --prefix P` works for any P.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(TETHER_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(TETHER_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
else()
  file(RELATIVE_PATH tether_pc_up /p/${CMAKE_INSTALL_LIBDIR}/pkgconfig /p)
  string(REGEX REPLACE "/$" "" tether_pc_up "${tether_pc_up}")
  set(TETHER_PC_PREFIX "\${pcfiledir}/${tether_pc_up}")
  set(TETHER_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(TETHER_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(TETHER_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
foreach(lib parent runner)
  if(TARGET tether_${lib}_shared)
    configure_file(${PROJECT_SOURCE_DIR}/cmake/tether-${lib}.pc.in
                   ${PROJECT_BINARY_DIR}/cmake/tether-${lib}.pc @ONLY)
    install(FILES ${PROJECT_BINARY_DIR}/cmake/tether-${lib}.pc
            DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
  endif()
endforeach()

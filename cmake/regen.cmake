# `regen` target: regenerates gen/ from proto/ into the source tree.
# The generators run from the repository root with relative paths so the
# output carries no absolute paths; cmake/check-gen.sh uses the same script.
find_program(TETHER_PROTOC protoc)
find_program(TETHER_PROTOC_C protoc-c)
find_program(TETHER_NANOPB_GEN nanopb_generator.py)
# Debian's nanopb generator needs the system python (google.protobuf).
find_program(TETHER_NANOPB_PYTHON python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(NOT TETHER_NANOPB_PYTHON)
  find_program(TETHER_NANOPB_PYTHON python3)
endif()

if(TETHER_PROTOC AND TETHER_NANOPB_GEN AND TETHER_NANOPB_PYTHON)
  add_custom_target(regen
    COMMAND ${CMAKE_COMMAND} -E env
            PROTOC=${TETHER_PROTOC}
            NANOPB_GEN=${TETHER_NANOPB_GEN}
            NANOPB_PYTHON=${TETHER_NANOPB_PYTHON}
            sh cmake/check-gen.sh --write
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    COMMENT "Regenerating gen/ from proto/tether/v1/tether.proto"
    VERBATIM)
else()
  add_custom_target(regen
    COMMAND ${CMAKE_COMMAND} -E echo "regen needs protoc, protoc-c and nanopb_generator.py"
    COMMAND ${CMAKE_COMMAND} -E false)
endif()

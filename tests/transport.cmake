# Transport-layer tests: error names, framing, transports, channel.
foreach(t error framing transport channel)
  tether_add_test(test_${t} SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_${t}.c
                  LIBS tether_transport)
endforeach()

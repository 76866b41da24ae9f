# Codec adapters and handshake helpers (ctest -R codec runs both).
tether_add_test(test_codec SOURCES test_codec.c ${PROJECT_SOURCE_DIR}/fuzz/msg_compare.c
  LIBS tether_codec_pbc tether_codec_nanopb tether_gen_pbc)
tether_add_test(test_codec_hello SOURCES test_hello.c LIBS tether_msg)

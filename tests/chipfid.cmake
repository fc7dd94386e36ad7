# CHIP: chip-fidelity checks (docs/decisions/chip-fidelity.md). Facts from
# Infineon's documents that the simulator and libtrustm must both follow;
# every case fails when either side holds the wrong belief.
if(TARGET trustm AND TARGET trustm_sim AND TARGET tma_port)
  tma_add_test(NAME chipfid_hash_empty SOURCES integration/chipfid_chip.c
    LIBS trustm trustm_sim tma_port mbedtls mbedx509 mbedcrypto LABELS integration ARGS hash_empty)
  foreach(c shield_time secmon_config sym_time int_read derive_protect secmon_ecdh secmon_handshake secmon_mac)
    add_test(NAME chipfid_${c} COMMAND chipfid_hash_empty ${c})
    set_tests_properties(chipfid_${c} PROPERTIES LABELS integration TIMEOUT 60)
  endforeach()
endif()

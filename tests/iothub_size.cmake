# IOTHUB-SIZE: the client built with twin and methods compiled out (the
# smallest configuration bench/iothub_size.sh measures).
if(TARGET iothub AND TARGET mqtt)
  tma_add_test(NAME iothub_size_cfg SOURCES unit/test_iothub_size_cfg.c
    LIBS iothub mqtt tma_testlib LABELS unit)
endif()

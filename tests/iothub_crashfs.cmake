# Power cuts against the Linux file outbox (brief S10-CRASHFS). Prefix:
# iothub_crashfs. The test links port/storage_file.c unchanged; the linker's
# --wrap routes its file-system calls through the recorder in the test.
# Needs no more than the status type and cmocka (tma_testlib brings both), so
# work in progress in src/iothub cannot hold it back.
if(TARGET tma_testlib)
  tma_add_test(NAME iothub_crashfs SOURCES integration/iothub_crashfs_test.c
    ${PROJECT_SOURCE_DIR}/port/storage_file.c
    LIBS tma_testlib LABELS integration TIMEOUT 120)
  target_link_options(iothub_crashfs PRIVATE
    "LINKER:--wrap=open,--wrap=pwritev,--wrap=ftruncate,--wrap=fsync,--wrap=fdatasync,--wrap=rename,--wrap=unlink,--wrap=close")
endif()

/* The flash log as shipped, under other names, for the tests that build it
 * with IOTHUB_FLASH_CURSORS below the sector count (1 or 2: the target sets
 * the define for every file, so the context's layout agrees everywhere).
 * Test code only. */
#ifndef IOTHUB_FLASH_CURSORS
#error "build with -DIOTHUB_FLASH_CURSORS=N"
#endif
#define iothub_flash_storage_open few_flash_storage_open
#define iothub_flash_storage_max_record few_flash_storage_max_record
#define iothub_flash_storage_put few_flash_storage_put
#define iothub_flash_storage_get few_flash_storage_get
#define iothub_flash_storage_del few_flash_storage_del
#define iothub_flash_storage_next few_flash_storage_next
#define iothub_flash_storage_seq_end few_flash_storage_seq_end
#define iothub_flash_storage_rebase few_flash_storage_rebase
#include "../../src/iothub/storage_flash.c"

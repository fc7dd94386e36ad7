/* The flash log built without its scan cursors (IOTHUB_FLASH_NO_CURSORS),
 * under other names: the reference of the differential test
 * (test_iothub_flash_diff.c). Test code only. */
#define IOTHUB_FLASH_NO_CURSORS 1
#define iothub_flash_storage_open ref_flash_storage_open
#define iothub_flash_storage_max_record ref_flash_storage_max_record
#define iothub_flash_storage_put ref_flash_storage_put
#define iothub_flash_storage_get ref_flash_storage_get
#define iothub_flash_storage_del ref_flash_storage_del
#define iothub_flash_storage_next ref_flash_storage_next
#define iothub_flash_storage_seq_end ref_flash_storage_seq_end
#define iothub_flash_storage_rebase ref_flash_storage_rebase
#include "../../src/iothub/storage_flash.c"

/*
 * The property sets of the device telemetry vectors in
 * tests/vectors/iothub/topics.vec (in file order), shared by the IoT Hub
 * firmwares (hub_fw/main.c, tls_fw/main.c): message i uses set i % 5, and
 * the host checkers compare each topic with that vector's expected topic,
 * byte for byte.
 */
#include "hub_fw.h"

static const struct iothub_property set1[] = {{"$.ct", "application/json;charset=utf-8"}};
static const struct iothub_property set2[] = {
    {"$.mid", "msg-1"}, {"$.ct", "application/json"}, {"$.ce", "utf-8"}};
static const struct iothub_property set3[] = {{"temp alert", "a&b=c"},
                                              {"flag", 0},
                                              {"empty", ""},
                                              {"iothub-creation-time-utc", "2021-04-21T11:30:16Z"}};
static const struct iothub_property set4[] = {
    {"$.cid", "c+1"}, {"$.uid", "u@x"}, {"$.ctime", "2024-01-01T00:00:00Z"}};

const struct hub_prop_set hub_prop_sets[HUB_PROP_SETS] = {
    {0, 0}, {set1, 1}, {set2, 3}, {set3, 4}, {set4, 3}};

/* firmware_main.c - the example firmware (integration/examples/main_loop.c) as an image export can
 * measure: the streaming API, the animal frame when the model has one (CKD_FRAME), the weight
 * check and the model, linked as a device links them. Flash and RAM are read from its linker map
 * (the model's budget is checked against this image); it is built, never run.
 *
 * The three functions a firmware provides read and write volatile locations, so the linker keeps
 * every path as a real sensor loop would.
 */
#include <stdint.h>

#include "ckd_model.h"

int collar_kd_main_loop(void);

static volatile int32_t sensor[CKD_INPUTS];
static volatile int32_t reported;

void app_wait_for_sample(int32_t counts[CKD_INPUTS])
{
    for (uint32_t i = 0; i < CKD_INPUTS; i++) {
        counts[i] = sensor[i];
    }
}

void app_report_behaviour(int cls, const int32_t logits[CKD_CLASSES])
{
    (void)logits;
    reported = cls;
}

void app_report_fault(uint32_t found_crc, uint32_t expected_crc)
{
    reported = (int32_t)(found_crc ^ expected_crc);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return collar_kd_main_loop();
}

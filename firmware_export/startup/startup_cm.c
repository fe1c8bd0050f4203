/* startup_cm.c - a minimal reset handler for the verify and benchmark images (QEMU mps2 boards
 * and real Cortex-M3/M4 parts): vector table, .data copy, .bss zeroing, FPU enable on M4F,
 * semihosting argv and an _exit whose status survives (SYS_EXIT_EXTENDED). A fault prints
 * CKD-FAULT and exits with status 99 instead of hanging. */
#include <stdint.h>
#include <stdlib.h>

extern uint32_t __data_load__, __data_start__, __data_end__, __bss_start__, __bss_end__, __stack_top__;
extern void initialise_monitor_handles(void);
extern int main(int argc, char **argv);

void Reset_Handler(void);
void Fault_Handler(void);
void _exit(int status);

__attribute__((section(".vectors"), used)) static void (*const vector_table[16])(void) = {
    (void (*)(void))(&__stack_top__), Reset_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler, Fault_Handler, 0, 0, 0, 0, Fault_Handler, Fault_Handler, 0, Fault_Handler, Fault_Handler,
};

static int semihost(int op, void *arg)
{
    register int r0 __asm__("r0") = op;
    register void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void _exit(int status)
{
    uint32_t block[2] = {0x20026u /* ADP_Stopped_ApplicationExit */, (uint32_t)status};
    semihost(0x20 /* SYS_EXIT_EXTENDED */, block);
    for (;;) {
    }
}

void Fault_Handler(void)
{
    static const char msg[] = "CKD-FAULT\n";
    semihost(0x04 /* SYS_WRITE0 */, (void *)msg);
    _exit(99);
}

static char cmdline[512];
static char *argv_buf[12];

void Reset_Handler(void)
{
    uint32_t *src = &__data_load__;
    for (uint32_t *dst = &__data_start__; dst < &__data_end__;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &__bss_start__; dst < &__bss_end__;) {
        *dst++ = 0u;
    }
#if defined(__ARM_FP)
    *(volatile uint32_t *)0xE000ED88u |= (0xFu << 20); /* CPACR: CP10 and CP11 full access */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    initialise_monitor_handles();
    struct {
        char *buf;
        uint32_t len;
    } args = {cmdline, sizeof cmdline - 1u};
    int argc = 0;
    if (semihost(0x15 /* SYS_GET_CMDLINE */, &args) == 0) {
        cmdline[args.len] = '\0';
        char *p = cmdline;
        while (*p != '\0' && argc < (int)(sizeof argv_buf / sizeof argv_buf[0]) - 1) {
            while (*p == ' ') {
                *p++ = '\0';
            }
            if (*p == '\0') {
                break;
            }
            argv_buf[argc++] = p;
            while (*p != '\0' && *p != ' ') {
                p++;
            }
        }
    }
    argv_buf[argc] = 0;
    exit(main(argc, argv_buf));
}

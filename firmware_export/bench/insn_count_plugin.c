/* insn_count_plugin.c - a QEMU TCG plugin that counts executed instructions exactly.
 *
 * Arguments (qemu -plugin libinsn_count.so,ranges=FILE,mark=ADDR,out=FILE):
 *   ranges  a file of "LO HI NAME" lines (hex addresses, HI exclusive): one counter per range,
 *           e.g. one per function of the model; instructions outside every range are not counted
 *   mark    the address of a marker instruction (the harness's window_boundary()); every time it
 *           executes, the sum of all counters is recorded, so differences are per-window counts
 *   out     where to write "range NAME COUNT" and "mark TOTAL" lines at exit, and one
 *           "insn ADDR COUNT<TAB>DISASSEMBLY" line per instruction executed inside the ranges (the
 *           instruction mix, from which collar_kd/verify/cycles.py estimates cycles)
 *
 * Built against qemu-plugin.h from Debian's qemu source package (GPL, fetched at build time by
 * bench/mcu.py, never committed). The counters are inline adds: exact and repeatable.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

#define MAX_RANGES 512
#define MAX_MARKS 200000

typedef struct {
    uint64_t lo, hi, count;
    char name[96];
} range_t;

static range_t ranges[MAX_RANGES];

/* One counter per instruction address inside the ranges (open addressing; retranslated blocks
 * find their instruction's existing counter). */
#define MAX_INSNS 65536
typedef struct {
    uint64_t addr, count;
    char *disas;
} insn_t;
static insn_t *insns;

static insn_t *insn_slot(uint64_t addr)
{
    uint64_t h = (addr >> 1) * 0x9E3779B97F4A7C15ull;
    for (size_t probe = 0; probe < MAX_INSNS; ++probe) {
        insn_t *e = &insns[(h + probe) % MAX_INSNS];
        if (e->disas == NULL || e->addr == addr) {
            return e;
        }
    }
    return NULL;
}
static int n_ranges;
static uint64_t mark_addr = UINT64_MAX;
static uint64_t *marks;
static size_t n_marks;
static char out_path[1024];

static void on_mark(unsigned int vcpu, void *userdata)
{
    (void)vcpu;
    (void)userdata;
    uint64_t total = 0;
    for (int i = 0; i < n_ranges; ++i) {
        total += ranges[i].count;
    }
    if (n_marks < MAX_MARKS) {
        marks[n_marks++] = total;
    }
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; ++i) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t va = qemu_plugin_insn_vaddr(insn);
        if (va == mark_addr) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, QEMU_PLUGIN_CB_NO_REGS, NULL);
        }
        for (int r = 0; r < n_ranges; ++r) {
            if (va >= ranges[r].lo && va < ranges[r].hi) {
                qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &ranges[r].count, 1);
                insn_t *e = insn_slot(va);
                if (e != NULL) {
                    if (e->disas == NULL) {
                        e->addr = va;
                        e->disas = qemu_plugin_insn_disas(insn);
                    }
                    qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &e->count, 1);
                }
                break;
            }
        }
    }
}

static void on_exit_cb(qemu_plugin_id_t id, void *userdata)
{
    (void)id;
    (void)userdata;
    FILE *f = fopen(out_path, "w");
    if (f == NULL) {
        return;
    }
    for (int i = 0; i < n_ranges; ++i) {
        fprintf(f, "range %s %" PRIu64 "\n", ranges[i].name, ranges[i].count);
    }
    for (size_t i = 0; i < n_marks; ++i) {
        fprintf(f, "mark %" PRIu64 "\n", marks[i]);
    }
    for (size_t i = 0; i < MAX_INSNS; ++i) {
        if (insns[i].disas != NULL && insns[i].count != 0) {
            fprintf(f, "insn %" PRIx64 " %" PRIu64 "\t%s\n", insns[i].addr, insns[i].count, insns[i].disas);
        }
    }
    fclose(f);
}

static int load_ranges(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    char line[256];
    while (n_ranges < MAX_RANGES && fgets(line, sizeof line, f) != NULL) {
        range_t *r = &ranges[n_ranges];
        if (sscanf(line, "%" SCNx64 " %" SCNx64 " %95s", &r->lo, &r->hi, r->name) == 3) {
            n_ranges++;
        }
    }
    fclose(f);
    return 0;
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    (void)info;
    marks = calloc(MAX_MARKS, sizeof *marks);
    insns = calloc(MAX_INSNS, sizeof *insns);
    if (marks == NULL || insns == NULL) {
        return -1;
    }
    for (int i = 0; i < argc; ++i) {
        if (strncmp(argv[i], "ranges=", 7) == 0) {
            if (load_ranges(argv[i] + 7) != 0) {
                fprintf(stderr, "insn_count: cannot read %s\n", argv[i] + 7);
                return -1;
            }
        } else if (strncmp(argv[i], "mark=", 5) == 0) {
            mark_addr = strtoull(argv[i] + 5, NULL, 0);
        } else if (strncmp(argv[i], "out=", 4) == 0) {
            snprintf(out_path, sizeof out_path, "%s", argv[i] + 4);
        } else {
            fprintf(stderr, "insn_count: unknown argument %s\n", argv[i]);
            return -1;
        }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_exit_cb, NULL);
    return 0;
}

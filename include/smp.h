/* TEMPORARY until the SMP bring-up lands: one CPU. */
#ifndef SMP_H
#define SMP_H
#include <kernel.h>
void smp_send_resched(int cpu);
#endif

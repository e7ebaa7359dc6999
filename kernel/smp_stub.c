/* TEMPORARY until the SMP bring-up lands: with one CPU there is never
 * another CPU to interrupt, so both calls do nothing (include/smp.h). */
#include <smp.h>
void smp_send_resched(int cpu) { (void)cpu; }
void smp_kick(int cpu) { (void)cpu; }

/* TEMPORARY until the SMP bring-up lands. */
#include <smp.h>
void smp_send_resched(int cpu) { (void)cpu; }

/*
 * smp.h - TEMPORARY stub until the SMP bring-up lands: one CPU.
 *
 * The interface the bring-up will provide (code may be written against it
 * now; with one CPU none of these ever has another CPU to talk to):
 *
 *   void smp_call(int cpu, void (*fn)(void *), void *arg, bool wait);
 *           runs fn(arg) on `cpu` from an IPI handler (not stubbed yet)
 *   void smp_send_resched(int cpu);
 *           asks `cpu` to reschedule (VEC_IPI_RESCHED)
 *   void smp_kick(int cpu);
 *           sends `cpu` a plain IPI and nothing else: its handler does no
 *           work. Its only purpose is the interrupt itself: a CPU running
 *           guest code with the physical-interrupt intercept on takes a
 *           #VMEXIT for any interrupt, so a kick forces a running vCPU back
 *           into the host, where it looks for pending work (a rendezvous,
 *           a suspend). The bring-up may send VEC_IPI_RESCHED for it (a
 *           spurious reschedule is harmless) or a dedicated kick vector.
 */
#ifndef SMP_H
#define SMP_H
#include <kernel.h>
void smp_send_resched(int cpu);
void smp_kick(int cpu);
#endif

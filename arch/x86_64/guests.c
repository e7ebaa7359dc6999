/*
 * arch/x86_64/guests.c - the x86 sample guests (guests/NAME.asm, included by
 * guest_images.asm) under the names of vmm_guests.h.
 */
#include <vmm_guests.h>

#define GUEST_IMAGE(n)                                                        \
	extern const uint8_t vm_guest_##n##_start[], vm_guest_##n##_end[];    \
	const struct vm_image vm_guest_##n = { #n, vm_guest_##n##_start,      \
					       vm_guest_##n##_end }

GUEST_IMAGE(hello);
GUEST_IMAGE(halt);
GUEST_IMAGE(fault);
GUEST_IMAGE(nops);
GUEST_IMAGE(worker);
GUEST_IMAGE(jump);

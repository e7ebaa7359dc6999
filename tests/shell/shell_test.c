/*
 * tests/shell/shell_test.c - the shell, driven over the serial console.
 *
 * The case starts init ("once": it ends with the shell) with COM1's ports,
 * as the kernel does at boot, and waits for it. The typing is the
 * harness's: the row `shell` (tests/harness/configs.py) types commands into
 * QEMU's serial console when the shell says it is ready, ends with `exit
 * 7`, and checks each command's output in the boot's log (its `checks`).
 * The case asserts that the shell ran and ended as told: init's status is
 * the shell's, 7. Without shell.typed=1 (every other row) nobody types:
 * the case is skipped.
 */
#include <ktest.h>
#include <arch.h>
#include <cmdline.h>
#include <proc.h>

static uint64_t typed;
CMDLINE_UINT("shell.typed", typed, 0, 1,
	     "1: the harness types into the console (the shell's test row)");

KTEST_TIMEOUT(shell, driven_over_the_serial_console, 30)
{
	if (!typed)
		KT_SKIP("nobody types here: the shell's row does (shell.typed=1)");
	const char *argv[] = { "init", "once" };
	int pid = proc_spawn_ports("init", 2, argv, NULL, ARCH_CONSOLE_PORT, 8);
	KT_ASSERT(pid > 0);
	struct proc_end end;
	KT_ASSERT_EQ(proc_wait(pid, 25000000000ULL, &end), 0);
	KT_EXPECT_EQ(end.status, 7);
}

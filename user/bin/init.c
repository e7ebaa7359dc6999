/*
 * user/bin/init.c - the first process (the kernel starts it when no tests
 * run, with COM1's ports: kernel/main.c): the servers, then the shell.
 *
 * It makes an endpoint for each server and starts it on it (spawn_handles:
 * the server's handle 0), gives the console server COM1's ports and drops
 * its own, keeps only the right to send to each (so the servers alone
 * receive: a dead server's clients get -EPIPE), registers the console with
 * the name server, and starts the shell with the console at its handle 0
 * (badged CONSOLE_BADGE: what the shell and its programs print goes
 * through the console server) and the name server at 1. A shell that ends is started again; with
 * "once" (the shell's test, tests/shell/) init then stops the servers and
 * ends with the shell's status instead.
 */
#include <console.h>
#include <names.h>

/* A server `name` on a new endpoint; *send gets a handle to send to it
 * with `rights`. Its pid. */
static int server(const char *name, unsigned rights, int *send)
{
	int ep = endpoint_create();
	if (ep < 0)
		return ep;
	const char *argv[] = { name, NULL };
	int pid = spawn_handles(name, argv, &ep, 1);
	*send = handle_dup(ep, rights, 0);
	handle_close(ep);
	return pid;
}

int main(int argc, char **argv)
{
	bool once = argc > 1 && !strcmp(argv[1], "once");
	int names, con;
	int names_pid = server("names", IPC_R_SEND | IPC_R_GRANT | IPC_R_DUP, &names);
	int con_pid = server("console", IPC_R_SEND | IPC_R_DUP, &con);
	if (names_pid < 0 || con_pid < 0 || names < 0 || con < 0) {
		printf("init: the servers did not start (%d, %d)\n", names_pid, con_pid);
		return 1;
	}
	if (ioport_give(con_pid, CONSOLE_PORT, 8) < 0)
		printf("init: COM1's ports are not mine to give: the console server has none\n");
	ioport_drop(CONSOLE_PORT, 8);		/* the console server's alone now */
	names_register(names, "console", handle_dup(con, IPC_R_SEND | IPC_R_DUP, 0));
	/* the shell's console: badged, so its library's write goes there */
	int shell_con = handle_dup(con, IPC_R_SEND | IPC_R_DUP, CONSOLE_BADGE);
	int hs[2] = { shell_con, names };
	for (;;) {
		const char *sargv[] = { "shell", NULL };
		int pid = spawn_handles("shell", sargv, hs, 2);
		if (pid < 0) {
			printf("init: the shell did not start (%d)\n", pid);
			return 1;
		}
		int st = 0;
		waitpid(pid, &st);
		if (once) {
			kill(con_pid);
			kill(names_pid);
			waitpid(con_pid, NULL);
			waitpid(names_pid, NULL);
			return st;
		}
		printf("init: the shell ended (status %d); starting another\n", st);
	}
}

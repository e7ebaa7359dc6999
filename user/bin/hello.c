/*
 * user/bin/hello.c - the smallest program: prints its arguments and exits.
 */
#include <ulib.h>

int main(int argc, char **argv)
{
	printf("hello from process %d:", getpid());
	for (int i = 0; i < argc; i++)
		printf(" %s", argv[i]);
	printf("\n");
	return 0;
}

/* A real process for the kernel baselines: N small VMAs and one big one.
 *
 * usage: vmas N BIG_MIB
 * Maps N anonymous regions of 2 pages, alternating rw- and r-- so that
 * neighbours never merge, and touches the first page of each (a write on
 * rw-, a read on r--). Then maps BIG_MIB MiB of anonymous memory and
 * writes every page. Prints "<big start address in hex> <vma count>" and
 * waits until stdin closes, so the bench can read its /proc files.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s N BIG_MIB\n", argv[0]);
		return 2;
	}
	long n = atol(argv[1]), big_mib = atol(argv[2]);
	long page = sysconf(_SC_PAGESIZE);
	/* One reservation, carved up: the VMAs sit side by side like a real heap. */
	char *base = mmap(NULL, (size_t)(n + 1) * 2 * page, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED) {
		perror("mmap reservation");
		return 1;
	}
	munmap(base, (size_t)(n + 1) * 2 * page);
	volatile char sink = 0;
	for (long i = 0; i < n; i++) {
		int prot = (i % 2) ? PROT_READ : PROT_READ | PROT_WRITE;
		char *p = mmap(base + i * 2 * page, 2 * page, prot,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (p == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
		if (prot & PROT_WRITE)
			p[0] = 1;
		else
			sink += p[0];
	}
	char *big = NULL;
	if (big_mib > 0) {
		big = mmap(NULL, (size_t)big_mib << 20, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (big == MAP_FAILED) {
			perror("mmap big");
			return 1;
		}
		/* No transparent huge pages: 4 KiB PTEs, as fakeproc models. */
		madvise(big, (size_t)big_mib << 20, MADV_NOHUGEPAGE);
		for (long off = 0; off < (big_mib << 20); off += page)
			big[off] = 1;
	}
	printf("%lx %ld\n", (unsigned long)big, n);
	fflush(stdout);
	char buf[64];
	while (read(0, buf, sizeof buf) > 0)
		;
	return sink == 42;
}

/* SPDX-License-Identifier: BSD-3-Clause */
/* probe_dl.c - a library the probe dlopens: its own syscall instruction. */

void probe_dl(int n);

void
probe_dl(int n)
{
	long r;
	int i;

	for (i = 0; i < n; i++)
		__asm__ volatile ("mov $108, %%eax\n\tsyscall"
				  : "=a"(r) : : "rcx", "r11", "memory");
	(void)r;
}

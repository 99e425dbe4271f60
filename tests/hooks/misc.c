/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * misc.c - small behaviours of the hook engine, one per argument:
 *   nullcall     call through a NULL function pointer (must die, SIGSEGV)
 *   nullcall-asm `xor %eax,%eax; call *%rax` (must die, SIGSEGV)
 *   bignr        syscall numbers past the table: -ENOSYS like the kernel
 *   bignr-tramp  number 600 through address 0: -ENOSYS natively, SIGSEGV
 *                under zpnet (past the sled; documented), never silent
 *   vfork        vfork() + _exit and vfork() + execve, parent intact
 *   clone        glibc clone() with CLONE_VM on a new stack
 *   sigalrm      a timer signal every 500 us interrupting nanosleep, the
 *                handler making a syscall
 *   sigsys       the app's own SIGSYS handler still runs (kill -SYS), also
 *                after a posix_spawn (its child resets handlers to SIG_DFL
 *                on the parent's memory)
 *   df           a syscall made with the direction flag set (std), on the
 *                stub and address-0 paths: DF is still set after it
 *   textdata     bytes 0f 05 in data inside .text, after a function, are
 *                not mistaken for a syscall and rewritten
 *   sigmask      sigprocmask() sticks (also when SUD serves it) and a
 *                syscall made with every signal blocked, from code written
 *                into an RWX page (SUD's), works
 *   forklock     fork() while another thread keeps making a page
 *                executable (the engine rewrites it under its lock): every
 *                child can still map executable code, no deadlock
 *   torn         threads call a `syscall` that straddles a cache line in a
 *                JIT page (no unwind info: SUD catches it, the engine
 *                rewrites it while the other thread runs it); each round
 *                the page is made writable (the syscall must be back)
 *                and executable again, many rounds: every call returns
 *                getppid's value, nothing dies; then
 *                the app's own SIGTRAP handler still gets its int3 and
 *                raise(SIGTRAP).  Under zpnet prints "pokes N traps M
 *                lazy L forgotten F" (zp_hooks_get_stats: int3-protocol
 *                writes, threads restarted by them, sites rewritten
 *                after SUD caught them, given back) before "ok torn"
 *   bigtext      a 4 MiB file mapped executable (10-byte movs, then
 *                `mov $39,%eax; syscall; ret`): the call returns getpid();
 *                the site's bytes changed iff LD_PRELOAD is set (the
 *                engine rewrote them), and the mapping keeps at most
 *                BIGTEXT_RSS_MAX resident: the engine gave back the pages
 *                its scan read
 *   tinystack    getppid from a stack with 384 bytes left above a guard
 *                page (a goroutine's, a coroutine's): the hook must run its
 *                C path (and the vector save area) elsewhere; twice, once
 *                with every register but rsp holding the same values
 *   jmptiny      a SIGALRM handler siglongjmps out of a blocking read of
 *                a pipe (the call left for good), then tinystack: the
 *                hook stack must be usable again
 *   jmpauto      jmptiny with the handler on an SS_AUTODISARM sigaltstack
 *                (which stays disarmed after the siglongjmp): rsp off that
 *                altstack tells the hook the call was left
 *   altstack     a SIGALRM handler on a sigaltstack (SA_ONSTACK) makes
 *                syscalls while it interrupts blocking nanosleeps (a call
 *                of ours on the hook stack): both give the right results,
 *                and sigaltstack() in the handler says SS_ONSTACK
 *   altauto      the same with an SS_AUTODISARM sigaltstack (the kernel
 *                disarms it while its handler runs), without the
 *                SS_ONSTACK check
 *   sigstorm     another thread sends SIGUSR1 to this one non-stop (up
 *                to 200,000 or 2 s) while it calls getppid; the handler
 *                calls getppid too: every result right, nothing dies
 *   threadexit   500 threads one after the other, each making a syscall
 *                (its hook stack gets mapped) and exiting: the process
 *                keeps no more than a few mappings more than before
 *   jitbytes     code written at run time (no unwind info), in a page
 *                made RX by mprotect and in an RWX page: `0f 05` as data
 *                jumped over, inside a mov's immediate and a lea's
 *                displacement, then a real
 *                `syscall` (getpid), run JIT_CALLS times: every call
 *                returns getpid(), the immediate and displacement bytes
 *                never change; under zpnet SUD caught each page's syscall
 *                exactly once and it was rewritten (ff d0) after that
 *   jitchurn     a thread calls a JIT page's syscall non-stop while the
 *                main thread mprotects the page (kept executable) 6,000
 *                times and tries munmaps that fail, and a SIGALRM
 *                handler mprotects a page of its own, through libc and
 *                through a JIT page's syscall: every call right, no
 *                crash, no hang (the engine's lock is never waited for by
 *                a handler over its own thread's hold); under zpnet SUD
 *                caught calls and sites were rewritten and given back
 *   getppid N    getppid N times through libc
 *   getpid N     getpid N times through libc, prints the last value
 * Prints "ok <case>" and exits 0 when the behaviour is right.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NR_PAST_TABLE	1000
#define NR_PAST_SLED	600
#define CLONE_STACK	(256 * 1024)
#define CLONE_MAGIC	0x5eed
#define ALRM_USEC	500
#define ALRM_SLEEPS	400
#define BIGTEXT_LEN	(4 << 20)
#define BIGTEXT_RSS_MAX	(512 << 10)	/* natively: fault-around, 64 KiB */
#define SLEEP_NSEC	100000

#define EFLAGS_DF	0x400

static volatile int clone_flag;

/*
 * A function with CFI followed by data in .text (like OpenSSL's
 * precomputed tables): decoded linearly from the function start, the
 * bytes after it read "nop; syscall; nop".
 */
__asm__ (
	"	.text\n"
	"	.type	textdata_fn, @function\n"
	"textdata_fn:\n"
	"	.cfi_startproc\n"
	"	lea	textdata_blob(%rip), %rax\n"
	"	ret\n"
	"	.cfi_endproc\n"
	"	.size	textdata_fn, . - textdata_fn\n"
	"textdata_blob:\n"
	"	.byte	0x90, 0x0f, 0x05, 0x90, 0xb8, 0x27, 0x00, 0x00, 0x00\n"
	"	.byte	0x0f, 0x05, 0x90, 0x90, 0x90, 0x90, 0x90\n");
const unsigned char *textdata_fn(void);

static const unsigned char textdata_want[] = {
	0x90, 0x0f, 0x05, 0x90, 0xb8, 0x27, 0x00, 0x00, 0x00, 0x0f, 0x05,
};

/*
 * getppid with DF set; returns the flags seen right after the syscall.
 * path 0: stub, 1: address 0, 2: after stub (pushfq; pop; cld move).
 */
static long
df_syscall(int path)
{
	long flags, r;

	if (path == 2)
		__asm__ volatile ("std\n\tmov $110, %%eax\n\tnop\n\tsyscall\n\t"
				  "pushfq\n\tpop %1\n\tcld"
				  : "=a"(r), "=r"(flags) : : "rcx", "r11",
				  "memory", "cc");
	else if (path == 1)
		/* jmps to and after it: nothing can move to a stub */
		__asm__ volatile ("std\n\tmov $110, %%eax\n\tjmp 2f\n2:\t"
				  "syscall\n\tjmp 1f\n1:\tpushfq\n\tpop %1\n\tcld"
				  : "=a"(r), "=r"(flags) : : "rcx", "r11",
				  "memory", "cc");
	else
		__asm__ volatile ("std\n\tmov $110, %%eax\n\tsyscall\n\t"
				  "pushfq\n\tpop %1\n\tcld"
				  : "=a"(r), "=r"(flags) : : "rcx", "r11",
				  "memory", "cc");
	return r == getppid() ? flags : 0;
}
static volatile sig_atomic_t alarms;

static int
clone_child(void *arg)
{
	clone_flag = *(int *)arg;
	return 0;
}

/* glibc clone() on a new stack, sharing memory, then a thread-like wait */
static int
do_clone(void)
{
	char *stack = malloc(CLONE_STACK);
	int magic = CLONE_MAGIC, st;
	pid_t pid;

	if (stack == NULL)
		return 1;
	pid = clone(clone_child, stack + CLONE_STACK,
		    CLONE_VM | CLONE_FS | CLONE_FILES | SIGCHLD, &magic);
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0 || clone_flag != CLONE_MAGIC)
		return 1;
	free(stack);
	return 0;
}

static void
on_alrm(int sig)
{
	(void)sig;
	getppid();	/* a syscall from the handler */
	alarms++;
}

/* SIGALRM every 500 us while sleeping: signals inside hooked syscalls */
static int
do_sigalrm(void)
{
	struct itimerval it = { { 0, ALRM_USEC }, { 0, ALRM_USEC } };
	struct timespec ts = { 0, SLEEP_NSEC };
	int i;

	signal(SIGALRM, on_alrm);
	if (setitimer(ITIMER_REAL, &it, NULL) != 0)
		return 1;
	for (i = 0; i < ALRM_SLEEPS; i++) {
		struct timespec rem = ts;

		while (nanosleep(&rem, &rem) != 0 && errno == EINTR)
			;
	}
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
	return alarms > 0 ? 0 : 1;
}

static volatile sig_atomic_t got_sigsys;

static void
on_sigsys(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	got_sigsys = si->si_code == SI_USER ? 1 : 2;
}

static volatile sig_atomic_t usr1;

static void
on_usr1(int sig)
{
	(void)sig;
	usr1++;
}

/* mov $110, %eax; syscall; ret (getppid), written after an RWX mmap */
static const unsigned char getppid_code[] = {
	0xb8, 0x6e, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xc3,
};

static int
do_sigmask(void)
{
	sigset_t one, all, old, pend;
	long (*fn)(void);
	void *page;

	signal(SIGUSR1, on_usr1);
	sigemptyset(&one);
	sigaddset(&one, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &one, &old) != 0)
		return 1;
	raise(SIGUSR1);
	if (usr1 != 0 || sigpending(&pend) != 0 ||
	    !sigismember(&pend, SIGUSR1))
		return 2;		/* the mask did not stick */
	page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		return 3;
	memcpy(page, getppid_code, sizeof(getppid_code));
	fn = (long (*)(void))page;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	if (fn() != getppid())
		return 4;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (usr1 != 1)
		return 5;		/* SIGUSR1 not delivered on unblock */
	return 0;
}

#define FORKS		200
#define CHILD_ALARM	5

static volatile int stop_mprotect;

static void *
mprotect_loop(void *arg)
{
	while (!stop_mprotect) {
		mprotect(arg, 4096, PROT_READ | PROT_WRITE);
		mprotect(arg, 4096, PROT_READ | PROT_EXEC);
	}
	return NULL;
}

static int
do_forklock(void)
{
	void *a = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *b = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pthread_t t;
	int i, bad = 0;

	if (a == MAP_FAILED || b == MAP_FAILED ||
	    pthread_create(&t, NULL, mprotect_loop, a) != 0)
		return 1;
	for (i = 0; i < FORKS; i++) {
		pid_t pid = fork();
		int st;

		if (pid == 0) {
			alarm(CHILD_ALARM);	/* a deadlock dies */
			mprotect(b, 4096, PROT_READ | PROT_EXEC);
			_exit(0);
		}
		if (pid < 0 || waitpid(pid, &st, 0) != pid ||
		    !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			bad++;
			break;
		}
	}
	stop_mprotect = 1;
	pthread_join(t, NULL);
	if (bad)
		printf("child %d of %d failed\n", i + 1, FORKS);
	return bad != 0;
}

#define PAGE		4096

/* as zp_hooks.h's struct zp_hooks_stats (the test is not linked with it) */
struct torn_stats {
	uint64_t sites_stub, sites_tramp, regions, sud_caught, start_ns;
	uint64_t poke_sites, poke_traps, sites_lazy, sites_forgotten;
};

/* ---- jitbytes: 0f 05 inside JIT instructions is never patched ---- */
#define JIT_CALLS	1000

static int
do_jitbytes(void)
{
	/*
	 * jmp over `0f 05` (data: a JIT's inline constant);
	 * mov $0x050f050f,%eax; lea 0x50f(%rax),%rcx; mov $39,%eax;
	 * syscall; ret
	 */
	static const unsigned char code[] = {
		0xeb, 0x02, 0x0f, 0x05,
		0xb8, 0x0f, 0x05, 0x0f, 0x05,
		0x48, 0x8d, 0x88, 0x0f, 0x05, 0x00, 0x00,
		0xb8, 0x27, 0x00, 0x00, 0x00,
		0x0f, 0x05,
		0xc3 };
	const size_t site = 21;
	void (*get_stats)(struct torn_stats *) =
		(void (*)(struct torn_stats *))dlsym(RTLD_DEFAULT,
						     "zp_hooks_get_stats");
	struct torn_stats st0, st1;
	long pid = getpid();
	int rwx, i;

	for (rwx = 0; rwx < 2; rwx++) {
		unsigned char *p;
		long (*fn)(void);

		p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE |
			 (rwx ? PROT_EXEC : 0), MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
		if (p == MAP_FAILED)
			return 1;
		memcpy(p, code, sizeof(code));
		if (!rwx && mprotect(p, PAGE, PROT_READ | PROT_EXEC) != 0)
			return 2;
		memset(&st0, 0, sizeof(st0));
		if (get_stats != NULL)
			get_stats(&st0);
		fn = (long (*)(void))(void *)p;
		for (i = 0; i < JIT_CALLS; i++)
			if (fn() != pid)
				return 3;
		if (memcmp(p, code, site) != 0)
			return 4;	/* bytes that are not a syscall patched */
		if (get_stats != NULL) {
			get_stats(&st1);
			if (st1.sud_caught - st0.sud_caught != 1 ||
			    st1.sites_lazy - st0.sites_lazy != 1)
				return 5;
			if (p[site] != 0xff || p[site + 1] != 0xd0)
				return 6;
		} else if (p[site] != 0x0f || p[site + 1] != 0x05) {
			return 7;
		}
		munmap(p, PAGE);
	}
	return 0;
}

/*
 * jitchurn: a thread calls a JIT page's syscall (rewritten once SUD caught
 * it) non-stop while the main thread mprotects that page again and again,
 * keeping it executable (a JIT patching another function there), tries a
 * munmap that fails (EINVAL: not page-aligned), and a SIGALRM handler
 * mprotects a page of its own meanwhile (it must not wait for a lock its
 * own thread holds).  Every call returns getppid(); nothing dies or hangs.
 */
#define CHURN_ROUNDS	3000

static unsigned char *churn_x;
static volatile int churn_stop;
static volatile long churn_calls, churn_bad;
static long churn_ppid;
static void *churn_other;

static void *
churn_thread(void *arg)
{
	long (*fn)(void) = (long (*)(void))(void *)churn_x;

	(void)arg;
	while (!churn_stop) {
		if (fn() != churn_ppid)
			churn_bad++;
		churn_calls++;
	}
	return NULL;
}

/* mov $10,%eax; syscall; ret: mprotect(rdi, rsi, rdx) from a JIT page */
static long (*churn_mprotect)(void *, size_t, int);

static void
churn_alarm(int sig)
{
	(void)sig;
	mprotect(churn_other, PAGE, PROT_READ);
	mprotect(churn_other, PAGE, PROT_READ | PROT_WRITE);
	/* the same through code SUD catches (maybe over its own lock) */
	churn_mprotect(churn_other, PAGE, PROT_READ);
	churn_mprotect(churn_other, PAGE, PROT_READ | PROT_WRITE);
}

static int
do_jitchurn(void)
{
	/* mov $110,%eax; syscall; ret */
	static const unsigned char code[] = { 0xb8, 0x6e, 0, 0, 0, 0x0f, 0x05,
					       0xc3 };
	struct sigaction sa = { .sa_handler = churn_alarm,
				.sa_flags = SA_RESTART };
	static const unsigned char mp[] = { 0xb8, 0x0a, 0, 0, 0, 0x0f, 0x05,
					     0xc3 };
	void (*get_stats)(struct torn_stats *) =
		(void (*)(struct torn_stats *))dlsym(RTLD_DEFAULT,
						     "zp_hooks_get_stats");
	struct itimerval it = { { 0, 200 }, { 0, 200 } };
	struct torn_stats st;
	unsigned char *g;
	pthread_t t;
	int r;

	churn_ppid = getppid();
	g = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g == MAP_FAILED)
		return 1;
	memcpy(g, mp, sizeof(mp));
	if (mprotect(g, PAGE, PROT_READ | PROT_EXEC) != 0)
		return 1;
	churn_mprotect = (long (*)(void *, size_t, int))(void *)g;
	churn_x = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	churn_other = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (churn_x == MAP_FAILED || churn_other == MAP_FAILED)
		return 1;
	memcpy(churn_x, code, sizeof(code));
	if (mprotect(churn_x, PAGE, PROT_READ | PROT_EXEC) != 0 ||
	    ((long (*)(void))(void *)churn_x)() != churn_ppid)
		return 2;
	if (sigaction(SIGALRM, &sa, NULL) != 0 ||
	    setitimer(ITIMER_REAL, &it, NULL) != 0 ||
	    pthread_create(&t, NULL, churn_thread, NULL) != 0)
		return 3;
	for (r = 0; r < CHURN_ROUNDS; r++) {
		if (mprotect(churn_x, PAGE, PROT_READ | PROT_WRITE |
			     PROT_EXEC) != 0 ||
		    mprotect(churn_x, PAGE, PROT_READ | PROT_EXEC) != 0)
			return 4;
		if (r % 100 == 0 && (munmap(churn_x + 1, PAGE) == 0 ||
				     errno != EINVAL))
			return 5;
	}
	churn_stop = 1;
	pthread_join(t, NULL);
	it = (struct itimerval){ 0 };
	setitimer(ITIMER_REAL, &it, NULL);
	/* after the failed munmaps too, the site still works */
	if (((long (*)(void))(void *)churn_x)() != churn_ppid)
		return 6;
	if (churn_bad != 0 || churn_calls == 0) {
		printf("%ld of %ld calls wrong\n", churn_bad, churn_calls);
		return 7;
	}
	if (get_stats != NULL) {
		/* under zpnet: the churn met lazily rewritten sites */
		memset(&st, 0, sizeof(st));
		get_stats(&st);
		if (st.sud_caught == 0 || st.sites_lazy < 2 ||
		    st.sites_forgotten == 0) {
			printf("caught %lu lazy %lu forgotten %lu\n",
			       (unsigned long)st.sud_caught,
			       (unsigned long)st.sites_lazy,
			       (unsigned long)st.sites_forgotten);
			return 8;
		}
	}
	return 0;
}

/* ---- torn: live patching of a syscall that straddles a cache line ---- */
#define TORN_THREADS	2
#define TORN_ROUNDS	500
#define TORN_ROUNDS_MAX	10000	/* ...until a thread met the int3 */
#define TORN_SITE	63	/* the syscall's 0f at 63, its 05 at 64 */
#define TORN_RUN_CALLS	200	/* calls each thread makes per round */
#define CACHE_LINE	64


static unsigned char *torn_x;
static volatile int torn_round;		/* 0: park; else the round */
static volatile int torn_quit;
static volatile long torn_calls[TORN_THREADS];
static volatile int torn_parked[TORN_THREADS];
static volatile int torn_park_seq;
static volatile long torn_bad;
static long torn_ppid;

static void *
torn_thread(void *arg)
{
	long i = (long)arg;
	long (*fn)(void) = (long (*)(void))(void *)torn_x;

	while (!torn_quit) {
		if (torn_round == 0) {
			/* parked: never inside the page until released */
			int seq = torn_park_seq;

			torn_parked[i] = seq;
			while (torn_round == 0 && torn_park_seq == seq &&
			       !torn_quit)
				sched_yield();
			continue;
		}
		if (fn() != torn_ppid)
			__atomic_fetch_add(&torn_bad, 1, __ATOMIC_RELAXED);
		torn_calls[i]++;
	}
	return NULL;
}

/* until each thread made n more calls than at *base (then: now) */
static void
torn_wait_calls(long *base, long n)
{
	int i;

	for (i = 0; i < TORN_THREADS; i++) {
		while (torn_calls[i] < base[i] + n)
			sched_yield();
		base[i] = torn_calls[i];
	}
}

static volatile sig_atomic_t app_traps;

static void
on_sigtrap(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	app_traps += si->si_code == SI_KERNEL ? 1 : 100;
}

static uint64_t
torn_traps(void (*get_stats)(struct torn_stats *))
{
	struct torn_stats st;

	memset(&st, 0, sizeof(st));
	get_stats(&st);
	return st.poke_traps;
}

static int
do_torn(void)
{
	/* mov $110,%eax; nop...; syscall at TORN_SITE; ret */
	static const unsigned char mov[] = { 0xb8, 0x6e, 0x00, 0x00, 0x00 };
	void (*get_stats)(struct torn_stats *) =
		(void (*)(struct torn_stats *))dlsym(RTLD_DEFAULT,
						     "zp_hooks_get_stats");
	pthread_t t[TORN_THREADS];
	struct sigaction sa, old;
	int r, i;
	long base[TORN_THREADS];

	torn_x = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (torn_x == MAP_FAILED)
		return 2;
	memcpy(torn_x, mov, sizeof(mov));
	memset(torn_x + sizeof(mov), 0x90, TORN_SITE - sizeof(mov));
	torn_x[TORN_SITE] = 0x0f;
	torn_x[TORN_SITE + 1] = 0x05;
	torn_x[TORN_SITE + 2] = 0xc3;
	if (mprotect(torn_x, PAGE, PROT_READ | PROT_EXEC) != 0)
		return 3;
	torn_ppid = getppid();
	for (i = 0; i < TORN_THREADS; i++)
		if (pthread_create(&t[i], NULL, torn_thread, (void *)(long)i))
			return 4;
	/*
	 * At least TORN_ROUNDS; under zpnet on until a thread met the int3
	 * (a busy machine may not run the other thread inside the window)
	 */
	for (r = 1; r <= TORN_ROUNDS || (get_stats != NULL &&
					 r <= TORN_ROUNDS_MAX &&
					 torn_traps(get_stats) == 0); r++) {
		/*
		 * Park the threads and make the page writable (a JIT about
		 * to write): the engine puts the syscall back.
		 */
		torn_park_seq = r;
		torn_round = 0;
		for (i = 0; i < TORN_THREADS; i++)
			while (torn_parked[i] != r)
				sched_yield();
		if (mprotect(torn_x, PAGE, PROT_READ | PROT_WRITE) != 0)
			return 5;
		if (torn_x[TORN_SITE] != 0x0f || torn_x[TORN_SITE + 1] != 0x05)
			return 10;	/* a stale patch */
		if (mprotect(torn_x, PAGE, PROT_READ | PROT_EXEC) != 0)
			return 5;
		/* both threads run into it: rewritten while they loop */
		for (i = 0; i < TORN_THREADS; i++)
			base[i] = torn_calls[i];
		torn_round = r;
		torn_wait_calls(base, TORN_RUN_CALLS);
	}
	torn_quit = 1;
	for (i = 0; i < TORN_THREADS; i++)
		pthread_join(t[i], NULL);
	if (torn_bad != 0) {
		printf("%ld calls returned a wrong value\n", torn_bad);
		return 6;
	}
	if (get_stats != NULL) {
		struct torn_stats st;

		memset(&st, 0, sizeof(st));
		get_stats(&st);
		printf("pokes %lu traps %lu lazy %lu forgotten %lu\n",
		       (unsigned long)st.poke_sites,
		       (unsigned long)st.poke_traps,
		       (unsigned long)st.sites_lazy,
		       (unsigned long)st.sites_forgotten);
		if (torn_x[TORN_SITE] != 0xff || torn_x[TORN_SITE + 1] != 0xd0)
			return 7;	/* not rewritten */
	}
	/* the app's SIGTRAP handler: an int3 of its own, and raise() */
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigtrap;
	sa.sa_flags = SA_SIGINFO;
	if (sigaction(SIGTRAP, &sa, NULL) != 0)
		return 8;
	__asm__ volatile ("int3" ::: "memory");
	raise(SIGTRAP);
	if (app_traps != 101)
		return 9;
	if (sigaction(SIGTRAP, NULL, &old) != 0 ||
	    old.sa_sigaction != on_sigtrap)
		return 10;
	return 0;
}

static int
do_vfork(void)
{
	volatile int marker = 42;
	pid_t pid;
	int st;

	pid = vfork();
	if (pid == 0)
		_exit(7);
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 7 || marker != 42)
		return 1;
	pid = vfork();
	if (pid == 0) {
		char *argv[] = { "true", NULL };

		execv("/bin/true", argv);
		_exit(9);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0 || marker != 42)
		return 1;
	return 0;
}

/* Rss of the mapping starting at addr, from /proc/self/smaps, or -1. */
static long
mapping_rss(uintptr_t addr)
{
	char line[512], want[32];
	FILE *f = fopen("/proc/self/smaps", "r");
	int in = 0;
	long kb = -1;

	if (f == NULL)
		return -1;
	snprintf(want, sizeof(want), "%lx-", (unsigned long)addr);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, want, strlen(want)) == 0)
			in = 1;
		else if (in && sscanf(line, "Rss: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb >= 0 ? kb * 1024 : -1;
}

static int
do_bigtext(void)
{
	static const uint8_t fn[] = {
		0xb8, 39, 0, 0, 0,	/* mov $39 (getpid), %eax */
		0x0f, 0x05,		/* syscall */
		0xc3,			/* ret */
	};
	static const uint8_t filler[] = { 0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8 };
	char path[] = "/tmp/zptest-bigtext-XXXXXX";
	size_t len = BIGTEXT_LEN + 4096, off = 0, fn_off;
	int hooked = getenv("LD_PRELOAD") != NULL, fd, changed;
	uint8_t *buf, *map;
	long rss;
	pid_t got;

	buf = malloc(len);
	fd = mkstemp(path);
	if (buf == NULL || fd < 0)
		return 1;
	unlink(path);
	while (off + sizeof(filler) <= BIGTEXT_LEN) {
		memcpy(buf + off, filler, sizeof(filler));
		off += sizeof(filler);
	}
	memset(buf + off, 0x90, len - off);	/* nops up to the function */
	fn_off = len - 64;
	memcpy(buf + fn_off, fn, sizeof(fn));
	if (write(fd, buf, len) != (ssize_t)len)
		return 2;
	map = mmap(NULL, len, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return 3;
	got = ((pid_t (*)(void))(map + fn_off))();
	changed = memcmp(map + fn_off, fn, sizeof(fn)) != 0;
	rss = mapping_rss((uintptr_t)map);
	fprintf(stderr, "bigtext: getpid %d/%d, site %s, rss %ld KiB of %zu\n",
		(int)got, (int)getpid(), changed ? "rewritten" : "as written",
		rss / 1024, len / 1024);
	if (got != getpid() || changed != hooked)
		return 4;
	if (rss < 0 || rss > BIGTEXT_RSS_MAX)
		return 5;
	munmap(map, len);
	free(buf);
	return 0;
}

#define TINY_PAGE	4096
#define TINY_ROOM	384

/* getppid with rsp = sp: the raw instruction, after `mov $nr,%eax`. */
static long
tiny_getppid(char *sp)
{
	long r;

	__asm__ volatile ("mov %%rsp, %%r12\n\t"
			  "mov %1, %%rsp\n\t"
			  "mov $110, %%eax\n\t"
			  "syscall\n\t"
			  "mov %%r12, %%rsp"
			  : "=&a"(r) : "r"(sp) : "rcx", "r11", "r12", "memory");
	return r;
}

static int
tinystack(void)
{
	char *m = mmap(NULL, 2 * TINY_PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int i;

	if (m == MAP_FAILED || mprotect(m, TINY_PAGE, PROT_NONE) != 0)
		return 1;
	for (i = 0; i < 2; i++)
		if (tiny_getppid(m + TINY_PAGE + TINY_ROOM) != getppid())
			return 1;
	munmap(m, 2 * TINY_PAGE);
	return 0;
}

static sigjmp_buf jmptiny_env;

static void
jmptiny_alarm(int sig)
{
	(void)sig;
	siglongjmp(jmptiny_env, 1);
}

/* Three rounds of a blocking read left by the alarm's siglongjmp, then
 * tinystack; ss: an altstack armed before each round (the kernel disarms
 * an SS_AUTODISARM one for the handler, and the siglongjmp never gives
 * it back), or NULL. */
static int
jmp_rounds(const stack_t *ss)
{
	struct itimerval it = { .it_value = { 0, 50000 } };
	int p[2], i;
	char c;

	if (pipe(p) != 0)
		return 1;
	for (i = 0; i < 3; i++) {
		if (ss != NULL && sigaltstack(ss, NULL) != 0)
			return 1;
		if (sigsetjmp(jmptiny_env, 1) == 0) {
			setitimer(ITIMER_REAL, &it, NULL);
			if (read(p[0], &c, 1) >= 0)	/* blocks until the alarm */
				return 1;
			return 1;	/* EINTR would mean no longjmp */
		}
		if (tinystack() != 0)
			return 1;
	}
	return 0;
}

static int
jmptiny(void)
{
	struct sigaction sa = { .sa_handler = jmptiny_alarm };

	if (sigaction(SIGALRM, &sa, NULL) != 0)
		return 1;
	return jmp_rounds(NULL);
}

#define ALTSTACK_SIZE	65536
#define ALTSTACK_HITS	20

#ifndef SS_AUTODISARM
#define SS_AUTODISARM	(1U << 31)	/* Linux 4.7, <linux/signal.h> */
#endif

static int
jmpauto(void)
{
	struct sigaction sa = { .sa_handler = jmptiny_alarm, .sa_flags = SA_ONSTACK };
	stack_t ss = { .ss_sp = malloc(ALTSTACK_SIZE), .ss_size = ALTSTACK_SIZE,
		       .ss_flags = (int)SS_AUTODISARM };

	if (ss.ss_sp == NULL || sigaction(SIGALRM, &sa, NULL) != 0)
		return 1;
	return jmp_rounds(&ss);
}

static volatile int alt_hits, alt_bad, alt_onstack;
static pid_t alt_ppid;
static uint64_t now_ns(void);

static void
altstack_alarm(int sig)
{
	stack_t o;

	(void)sig;
	if (getppid() != alt_ppid || syscall(SYS_getppid) != alt_ppid)
		alt_bad++;
	/* the kernel sees this handler on its altstack (rsp decides) */
	if (alt_onstack && (sigaltstack(NULL, &o) != 0 ||
			    !(o.ss_flags & SS_ONSTACK)))
		alt_bad++;
	alt_hits++;
}

/*
 * altstack, altauto (flags SS_AUTODISARM: the kernel disarms the altstack
 * while its handler runs, so the handler cannot see SS_ONSTACK): SIGALRM
 * on the altstack during nanosleeps (calls of ours), then as many times
 * outside any syscall (the vDSO's clock is none).
 */
static int
alt_run(int flags)
{
	struct sigaction sa = { .sa_handler = altstack_alarm,
				.sa_flags = SA_ONSTACK | SA_RESTART };
	struct itimerval it = { { 0, 5000 }, { 0, 5000 } };
	stack_t ss = { .ss_sp = malloc(ALTSTACK_SIZE), .ss_size = ALTSTACK_SIZE,
		       .ss_flags = flags };
	struct timespec ts = { 0, 2000000 };
	uint64_t spins = 0;

	alt_hits = 0;
	alt_ppid = getppid();
	alt_onstack = !(flags & (int)SS_AUTODISARM);
	if (ss.ss_sp == NULL || sigaltstack(&ss, NULL) != 0 ||
	    sigaction(SIGALRM, &sa, NULL) != 0 ||
	    setitimer(ITIMER_REAL, &it, NULL) != 0)
		return 1;
	while (alt_hits < ALTSTACK_HITS && spins++ < 100000) {
		nanosleep(&ts, NULL);
		if (getppid() != alt_ppid)
			return 1;
	}
	for (uint64_t t0 = now_ns(); alt_hits < 2 * ALTSTACK_HITS &&
	     now_ns() - t0 < 5000000000ULL;)
		;
	it = (struct itimerval){ 0 };
	setitimer(ITIMER_REAL, &it, NULL);
	alt_onstack = 0;
	return alt_hits < 2 * ALTSTACK_HITS || alt_bad != 0;
}

/*
 * sigstorm: another thread sends SIGUSR1 to this one as fast as it can
 * while it makes syscalls; the handler (on this thread's stack) makes
 * its own.  Signals land at every instruction of the entry, the stack
 * switch included.
 */
#define STORM_SIGNALS	200000
#define STORM_NS	(2ULL * 1000000000ULL)

static volatile int storm_stop;
static volatile long storm_hits, storm_bad;
static pid_t storm_tid;

static void
storm_usr1(int sig)
{
	(void)sig;
	if (syscall(SYS_getppid) != alt_ppid)
		storm_bad++;
	storm_hits++;
}

static void *
storm_thread(void *arg)
{
	pid_t pid = getpid();
	long i;

	(void)arg;
	for (i = 0; i < STORM_SIGNALS && !storm_stop; i++)
		syscall(SYS_tgkill, pid, storm_tid, SIGUSR1);
	return NULL;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int
sigstorm(void)
{
	struct sigaction sa = { .sa_handler = storm_usr1,
				.sa_flags = SA_RESTART };
	uint64_t t0 = now_ns();
	pthread_t t;

	alt_ppid = getppid();
	storm_tid = (pid_t)syscall(SYS_gettid);
	if (sigaction(SIGUSR1, &sa, NULL) != 0 ||
	    pthread_create(&t, NULL, storm_thread, NULL) != 0)
		return 1;
	while (now_ns() - t0 < STORM_NS && storm_hits < STORM_SIGNALS / 4)
		if (syscall(SYS_getppid) != alt_ppid)
			storm_bad++;
	storm_stop = 1;
	pthread_join(t, NULL);
	return storm_bad != 0 || storm_hits == 0;
}

#define THREADEXIT_N		500
#define THREADEXIT_SLACK	8

static int
count_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	int n = 0, ch;

	if (f == NULL)
		return -1;
	while ((ch = fgetc(f)) != EOF)
		n += ch == '\n';
	fclose(f);
	return n;
}

static void *
threadexit_fn(void *arg)
{
	return (void *)(long)(getppid() == *(pid_t *)arg);
}

static int
threadexit(void)
{
	pid_t ppid = getppid();
	int before, after, i;
	void *ok;

	for (i = 0; i < 4; i++) {	/* glibc's stack cache settles first */
		pthread_t t;

		if (pthread_create(&t, NULL, threadexit_fn, &ppid) != 0 ||
		    pthread_join(t, &ok) != 0 || ok == NULL)
			return 1;
	}
	before = count_maps();
	for (i = 0; i < THREADEXIT_N; i++) {
		pthread_t t;

		if (pthread_create(&t, NULL, threadexit_fn, &ppid) != 0 ||
		    pthread_join(t, &ok) != 0 || ok == NULL)
			return 1;
	}
	after = count_maps();
	fprintf(stderr, "maps %d -> %d\n", before, after);
	return before < 0 || after > before + THREADEXIT_SLACK;
}

int
main(int argc, char **argv)
{
	const char *c = argc > 1 ? argv[1] : "";

	if (strcmp(c, "nullcall") == 0) {
		void (*volatile fp)(void) = NULL;

		fp();
		return 1;
	}
	if (strcmp(c, "bignr-tramp") == 0) {
		long r;

		/*
		 * a branch to it right before and a branch after it:
		 * through address 0 under zpnet
		 */
		__asm__ volatile ("mov %1, %%eax\n\tjmp 2f\n2:\tsyscall\n\t"
				  "jmp 1f\n1:"
				  : "=a"(r) : "i"(NR_PAST_SLED)
				  : "rcx", "r11", "memory");
		printf("%ld\n", r);
		return r == -ENOSYS ? 0 : 1;
	}
	if (strcmp(c, "nullcall-asm") == 0) {
		__asm__ volatile ("xor %%eax, %%eax\n\tcall *%%rax"
				  ::: "rax", "memory");
		return 1;
	}
	if (strcmp(c, "bignr") == 0) {
		long r1 = syscall(NR_PAST_TABLE);
		int e1 = errno;
		long r2 = syscall(NR_PAST_SLED);
		int e2 = errno;

		if (r1 != -1 || e1 != ENOSYS || r2 != -1 || e2 != ENOSYS)
			return 1;
	} else if (strcmp(c, "clone") == 0) {
		if (do_clone() != 0)
			return 1;
	} else if (strcmp(c, "sigalrm") == 0) {
		if (do_sigalrm() != 0)
			return 1;
	} else if (strcmp(c, "bigtext") == 0) {
		if (do_bigtext() != 0)
			return 1;
	} else if (strcmp(c, "vfork") == 0) {
		if (do_vfork() != 0)
			return 1;
	} else if (strcmp(c, "sigsys") == 0) {
		struct sigaction sa, old;

		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_sigsys;
		sa.sa_flags = SA_SIGINFO;
		if (sigaction(SIGSYS, &sa, NULL) != 0)
			return 1;
		kill(getpid(), SIGSYS);
		if (got_sigsys != 1)
			return 1;
		{
			char *argv[] = { "true", NULL };
			pid_t pid;
			int st;

			if (posix_spawn(&pid, "/bin/true", NULL, NULL, argv,
					NULL) != 0 ||
			    waitpid(pid, &st, 0) != pid)
				return 1;
		}
		got_sigsys = 0;
		kill(getpid(), SIGSYS);
		if (got_sigsys != 1)
			return 1;
		if (sigaction(SIGSYS, NULL, &old) != 0 ||
		    old.sa_sigaction != on_sigsys)
			return 1;
	} else if (strcmp(c, "sigmask") == 0) {
		int r = do_sigmask();

		if (r != 0) {
			printf("sigmask step %d failed\n", r);
			return 1;
		}
	} else if (strcmp(c, "jitbytes") == 0) {
		int r = do_jitbytes();

		if (r != 0) {
			printf("jitbytes step %d failed\n", r);
			return 1;
		}
	} else if (strcmp(c, "jitchurn") == 0) {
		int r = do_jitchurn();

		if (r != 0) {
			printf("jitchurn step %d failed\n", r);
			return 1;
		}
	} else if (strcmp(c, "torn") == 0) {
		int r = do_torn();

		if (r != 0) {
			printf("torn step %d failed\n", r);
			return 1;
		}
	} else if (strcmp(c, "forklock") == 0) {
		if (do_forklock() != 0)
			return 1;
	} else if (strcmp(c, "df") == 0) {
		if (!(df_syscall(0) & EFLAGS_DF) || !(df_syscall(1) & EFLAGS_DF) ||
		    !(df_syscall(2) & EFLAGS_DF))
			return 1;
	} else if (strcmp(c, "textdata") == 0) {
		if (memcmp(textdata_fn(), textdata_want,
			   sizeof(textdata_want)) != 0)
			return 1;
	} else if (strcmp(c, "altauto") == 0) {
		if (alt_run((int)SS_AUTODISARM) != 0)
			return 1;
	} else if (strcmp(c, "sigstorm") == 0) {
		if (sigstorm() != 0)
			return 1;
	} else if (strcmp(c, "altstack") == 0) {
		if (alt_run(0) != 0)
			return 1;
	} else if (strcmp(c, "jmptiny") == 0) {
		if (jmptiny() != 0)
			return 1;
	} else if (strcmp(c, "jmpauto") == 0) {
		if (jmpauto() != 0)
			return 1;
	} else if (strcmp(c, "threadexit") == 0) {
		if (threadexit() != 0)
			return 1;
	} else if (strcmp(c, "tinystack") == 0) {
		if (tinystack() != 0)
			return 1;
	} else if (strcmp(c, "getppid") == 0 && argc > 2) {
		long n = atol(argv[2]), i;

		for (i = 0; i < n; i++)
			getppid();
	} else if (strcmp(c, "getpid") == 0 && argc > 2) {
		long n = atol(argv[2]), i;
		pid_t p = 0;

		for (i = 0; i < n; i++)
			p = getpid();
		printf("%d\n", p);
		return 0;
	} else {
		fprintf(stderr, "usage: %s CASE\n", argv[0]);
		return 2;
	}
	printf("ok %s\n", c);
	return 0;
}

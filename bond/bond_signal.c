/*
 * The application's signal handlers, seen by bond.
 *
 * Linux interrupts a blocking call when a handler runs in its thread: the
 * call returns EINTR, or is restarted when the handler has SA_RESTART and
 * the call is one Linux restarts (signal(7)). A call bond serves waits in
 * user space, busy-polling, where the kernel has no call to interrupt, so
 * bond must know when a handler ran. Every handler the application installs
 * (rt_sigaction through the engine, sigaction()/signal() in preload mode)
 * is registered with the kernel as sig_tramp(), which counts the run in the
 * thread (bond_sig_runs, bond_sig_norestart) and calls the application's
 * handler with the same arguments. Waits compare the counts
 * (bond_waiter_intr). Queries see the application's handler, never ours.
 *
 * One word per signal holds the handler and the three flags sig_tramp()
 * needs, so a signal arriving during a sigaction() on another thread sees
 * the old handler or the new one, never half of each.
 */
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>

#include "bond.h"
#include "bond_sys.h"

#define SIG_MAX		64
#define KSIGSET_SIZE	8
#define ENTRY_PTR_BITS	48	/* user addresses fit below bit 47 */
#define ENTRY_PTR_MASK	((1ull << ENTRY_PTR_BITS) - 1)
#define E_SIGINFO	(1ull << 48)
#define E_RESTART	(1ull << 49)
#define E_RESETHAND	(1ull << 50)
#define E_SET		(1ull << 51)	/* an action is recorded */

/* The kernel's struct sigaction for rt_sigaction on x86-64. */
struct ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

int (*bond_engine_guard_drop)(void);
void (*bond_engine_guard_restore)(int saved);

/* 0: not wrapped (SIG_DFL, SIG_IGN, or never set through us). SIGSEGV
 * and SIGBUS, once the fault handler is in (faults_owned), are always
 * wrapped: E_SET marks their entry even for SIG_DFL or SIG_IGN. */
static uint64_t entries[SIG_MAX + 1];
static bool faults_owned;
/* The flags the application gave, for queries. */
static unsigned long app_flags[SIG_MAX + 1];

static bool
handler_is_real(const void *h)
{
	return h != (void *)SIG_DFL && h != (void *)SIG_IGN &&
	       h != (void *)SIG_ERR;
}

/* A fault raised by an instruction (si_code > 0 from the kernel): it
 * cannot wait, the instruction would fault again. */
static bool
sig_synchronous(int sig, const siginfo_t *si)
{
	return (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL ||
		sig == SIGFPE || sig == SIGTRAP || sig == SIGSYS) &&
	       si != NULL && si->si_code > 0;
}

/*
 * In the stack (lock held, or being taken): the handler must not run now,
 * it could longjmp away with the lock, or call a socket function that
 * would fall to the kernel. The signal goes back, pending and blocked in
 * this thread, with its siginfo; bond_leave() unblocks it.
 */
static void
sig_defer(int sig, siginfo_t *si, void *uc)
{
	uint64_t bit = 1ull << (sig - 1);

	bond_kernel(SYS_rt_sigprocmask, SIG_BLOCK, (long)&bit, 0, sizeof(bit), 0, 0);
	/* after sigreturn too; by hand: a handler that interrupted a light
	 * served call may call no libc function (its wrapper would save the
	 * handler's vector state as the call's, zp_hooks_vec_full) */
	((ucontext_t *)uc)->uc_sigmask.__val[0] |= bit;
	bond_sig_deferred |= bit;
	bond_kernel(SYS_rt_tgsigqueueinfo, bond_kernel(SYS_getpid, 0, 0, 0, 0, 0, 0),
		    bond_kernel(SYS_gettid, 0, 0, 0, 0, 0, 0), sig, (long)si, 0, 0);
}

static bool
is_fault_sig(int sig)
{
	return sig == SIGSEGV || sig == SIGBUS;
}

/*
 * SIGSEGV or SIGBUS that is not a copy's, with the application's action
 * SIG_DFL or SIG_IGN: what the kernel would have done. A fault raised by
 * an instruction kills even under SIG_IGN: the kernel's action goes back
 * to SIG_DFL and the instruction runs again; a sent one is sent again.
 */
static void
fault_default(int sig, const siginfo_t *si, const void *h)
{
	struct ksigaction dfl = { .handler = (void *)SIG_DFL };

	if (h == (void *)SIG_IGN && !sig_synchronous(sig, si))
		return;
	bond_kernel(SYS_rt_sigaction, sig, (long)&dfl, 0, KSIGSET_SIZE, 0, 0);
	if (!sig_synchronous(sig, si))
		bond_kernel(SYS_rt_tgsigqueueinfo, bond_kernel(SYS_getpid, 0, 0, 0, 0, 0, 0),
			    bond_kernel(SYS_gettid, 0, 0, 0, 0, 0, 0), sig, (long)si, 0, 0);
}

static void
sig_tramp(int sig, siginfo_t *si, void *uc)
{
	uint64_t e = __atomic_load_n(&entries[sig], __ATOMIC_ACQUIRE);
	void *h = (void *)(uintptr_t)(e & ENTRY_PTR_MASK);
	int guard;

	if (is_fault_sig(sig) && uc != NULL && bond_uaccess_fixup(uc))
		return;	/* a copy from or to the application: EFAULT */
	if (bond_in_stack && uc != NULL && !sig_synchronous(sig, si)) {
		sig_defer(sig, si, uc);
		return;
	}
	bond_sig_runs++;
	if (!(e & E_RESTART))
		bond_sig_norestart++;
	if (e & E_RESETHAND)	/* the kernel has reset its side already */
		__atomic_compare_exchange_n(&entries[sig], &e, 0, false,
					    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
	if (!handler_is_real(h)) {
		if (is_fault_sig(sig) && (e & E_SET))
			fault_default(sig, si, h);
		return;	/* else changed under us: the new action is the kernel's */
	}
	/* The handler is the application's code, here perhaps from inside a
	 * dispatched call: its calls are dispatched too, and a siglongjmp
	 * out of it must leave the engine's guard down. */
	guard = bond_engine_guard_drop != NULL ? bond_engine_guard_drop() : 0;
	if (e & E_SIGINFO)
		((void (*)(int, siginfo_t *, void *))h)(sig, si, uc);
	else
		((void (*)(int))h)(sig);
	if (bond_engine_guard_restore != NULL)
		bond_engine_guard_restore(guard);
}

static bool
sig_wrappable(long sig)
{
	return sig > 0 && sig <= SIG_MAX && sig != SIGKILL && sig != SIGSTOP;
}

/* The table's entry for a signal before a change, to undo or report it. */
struct before {
	uint64_t entry;
	unsigned long flags;
};

/*
 * The application asks for (handler, flags) on sig: when the handler is a
 * function, it is recorded and the kernel gets our tramp with SA_SIGINFO
 * instead. Returns what the table held before, for settle().
 */
static struct before
wrap(int sig, void **handler, unsigned long *flags)
{
	struct before b = { __atomic_load_n(&entries[sig], __ATOMIC_ACQUIRE),
			    app_flags[sig] };
	uintptr_t h;

	if (handler == NULL)
		return b;
	if (!handler_is_real(*handler) &&
	    !(is_fault_sig(sig) && __atomic_load_n(&faults_owned, __ATOMIC_ACQUIRE)))
		return b;	/* entries[sig] cleared once the kernel agrees */
	h = (uintptr_t)*handler;
	if ((h & ~ENTRY_PTR_MASK) != 0)
		return b;	/* not a user address: the kernel decides */
	app_flags[sig] = *flags;
	__atomic_store_n(&entries[sig],
			 h | E_SET | ((*flags & SA_SIGINFO) ? E_SIGINFO : 0) |
			 ((*flags & SA_RESTART) ? E_RESTART : 0) |
			 ((*flags & SA_RESETHAND) ? E_RESETHAND : 0),
			 __ATOMIC_RELEASE);
	*handler = (void *)sig_tramp;
	*flags |= SA_SIGINFO;
	return b;
}

/*
 * After the kernel call (ok: it succeeded) for a change to asked (NULL: a
 * query): the table made to agree with the kernel, and the previous action
 * (old_handler, old_flags, when asked for) the application's own.
 */
static void
settle(int sig, struct before b, bool set, const void *asked, bool ok,
       void **old_handler, unsigned long *old_flags)
{
	if (!ok) {
		if (set) {
			__atomic_store_n(&entries[sig], b.entry, __ATOMIC_RELEASE);
			app_flags[sig] = b.flags;
		}
		return;
	}
	if (old_handler != NULL && *old_handler == (void *)sig_tramp && b.entry != 0) {
		*old_handler = (void *)(uintptr_t)(b.entry & ENTRY_PTR_MASK);
		*old_flags = b.flags;
	}
	if (set && !handler_is_real(asked) &&
	    !(__atomic_load_n(&entries[sig], __ATOMIC_ACQUIRE) & E_SET &&
	      is_fault_sig(sig)))
		__atomic_store_n(&entries[sig], 0, __ATOMIC_RELEASE);
}

/* rt_sigaction(sig, act, oact, sigsetsize), through the engine. */
long
bond_sys_rt_sigaction(int a1, const void *a2, void *a3, size_t a4)
{
	struct ksigaction k, old;
	const void *asked = NULL;
	struct before b;
	long r;

	if (!sig_wrappable(a1) || a4 != KSIGSET_SIZE)
		return bond_kernel_rt_sigaction(a1, a2, a3, a4);
	if (a2 != NULL) {
		if (bond_copy_from_user(&k, a2, sizeof(k)) != sizeof(k))
			return -EFAULT;
		asked = k.handler;
	}
	b = wrap(a1, a2 != NULL ? &k.handler : NULL, &k.flags);
	r = bond_kernel_rt_sigaction(a1, a2 != NULL ? &k : NULL,
				     a3 != NULL ? &old : NULL, a4);
	settle(a1, b, a2 != NULL, asked, r == 0,
	       a3 != NULL ? &old.handler : NULL, &old.flags);
	if (r == 0 && a3 != NULL &&
	    bond_copy_to_user(a3, &old, sizeof(old)) != sizeof(old))
		return -EFAULT;
	return r;
}

/* ---- preload mode: libc's functions (with the engine, its syscall
 * reaches bond_sys_rt_sigaction instead); exported by libzpnet-preload.so
 * only ---- */

#define BOND_EXPORT	__attribute__((visibility("default")))

typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);

static sigaction_fn
real_sigaction(void)
{
	static sigaction_fn fn;

	if (fn == NULL)
		fn = (sigaction_fn)dlsym(RTLD_NEXT, "sigaction");
	return fn;
}

#ifdef BOND_PRELOAD_WRAPPERS
BOND_EXPORT int
sigaction(int sig, const struct sigaction *act, struct sigaction *oact)
{
	sigaction_fn real = real_sigaction();
	struct sigaction k, old;
	unsigned long flags = 0, of = 0;
	void *h = NULL, *oh = NULL;
	struct before b;
	int r;

	if (real == NULL) {
		errno = ENOSYS;
		return -1;
	}
	if (bond_preload_bypass || bond_guard || !sig_wrappable(sig))
		return real(sig, act, oact);
	if (act != NULL) {
		k = *act;
		h = (void *)k.sa_handler;
		flags = (unsigned long)k.sa_flags;
	}
	b = wrap(sig, act != NULL ? &h : NULL, &flags);
	if (h == (void *)sig_tramp) {
		k.sa_sigaction = sig_tramp;
		k.sa_flags = (int)flags;
	}
	r = real(sig, act != NULL ? &k : NULL, oact != NULL ? &old : NULL);
	if (oact != NULL) {
		oh = (void *)old.sa_handler;
		of = (unsigned long)old.sa_flags;
	}
	settle(sig, b, act != NULL, act != NULL ? (void *)act->sa_handler : NULL,
	       r == 0, oact != NULL ? &oh : NULL, &of);
	if (r == 0 && oact != NULL) {
		old.sa_handler = (__sighandler_t)oh;
		old.sa_flags = (int)of;
		*oact = old;
	}
	return r;
}
#endif /* BOND_PRELOAD_WRAPPERS */

/*
 * SIGSEGV and SIGBUS become bond's for good (once the stack serves): a
 * copy from or to the application that faults is resumed as EFAULT, any
 * other fault goes to the application's action, whatever it is, as
 * before. An action installed before (a preloaded library's) becomes the
 * application's recorded one.
 */
void
bond_fault_install(void)
{
	static const int sigs[] = { SIGSEGV, SIGBUS };
	sigaction_fn real = real_sigaction();

	if (real == NULL)
		return;
	__atomic_store_n(&faults_owned, true, __ATOMIC_RELEASE);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		struct sigaction sa, old;
		unsigned long flags;
		void *h;

		if (real(sigs[i], NULL, &old) != 0 ||
		    (void *)old.sa_handler == (void *)sig_tramp)
			continue;
		h = (void *)old.sa_handler;
		flags = (unsigned long)old.sa_flags;
		wrap(sigs[i], &h, &flags);
		if (h != (void *)sig_tramp)
			continue;
		sa = old;
		sa.sa_sigaction = sig_tramp;
		sa.sa_flags = (int)flags;
		real(sigs[i], &sa, NULL);
	}
}

#ifdef BOND_PRELOAD_WRAPPERS
/* signal() as glibc's: BSD semantics (SA_RESTART, the signal blocked in
 * its handler). */
static __sighandler_t
set_handler(int sig, __sighandler_t h, int flags, bool mask_self)
{
	struct sigaction sa, old;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = h;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	if (mask_self && sig > 0 && sig <= SIG_MAX)
		sigaddset(&sa.sa_mask, sig);
	if (sigaction(sig, &sa, &old) < 0)
		return SIG_ERR;
	return old.sa_handler;
}

BOND_EXPORT __sighandler_t
signal(int sig, __sighandler_t h)
{
	return set_handler(sig, h, SA_RESTART, true);
}

BOND_EXPORT __sighandler_t
bsd_signal(int sig, __sighandler_t h)
{
	return set_handler(sig, h, SA_RESTART, true);
}

/* System V: one-shot, not blocked in its handler, calls interrupted. */
BOND_EXPORT __sighandler_t
sysv_signal(int sig, __sighandler_t h)
{
	return set_handler(sig, h, SA_RESETHAND | SA_NODEFER, false);
}

BOND_EXPORT __sighandler_t __sysv_signal(int sig, __sighandler_t h)
	__attribute__((alias("sysv_signal")));
#endif /* BOND_PRELOAD_WRAPPERS */

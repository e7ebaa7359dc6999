/*
 * kernel/ipc.c - synchronous IPC on endpoints, handles, notifications.
 *
 * Theory (uapi/ipc.h has the interface)
 *   An endpoint holds no messages, only threads: those waiting to send
 *   (and callers, who send and then wait for a reply) and those waiting to
 *   receive. Whoever arrives second finds a partner queued and the message
 *   passes at once, from one thread's registers and memory to the other's;
 *   the first arrival sleeps until then. A call leaves the receiving
 *   thread holding a one-shot right to reply (a reference to the caller),
 *   which its next reply uses up. This is L4's and seL4's model: nothing is
 *   buffered in the kernel, so nothing can fill it up.
 *
 *   The long part of a message (up to IPC_DATA_MAX bytes) is copied once,
 *   from the sender's memory straight to the receiver's, by whichever of
 *   the two arrives second: its own side through copyin/copyout, the other
 *   (asleep, in another address space) through that space's page tables
 *   and the kernel's identity map of RAM, page by page. Handles move from
 *   the sender's table to the receiver's at the same moment.
 *
 *   Who is at fault when a message cannot pass: a bad buffer is its
 *   owner's; more data or handles than the receiver has room for, a full
 *   table or a bad handle to move are the sender's. Only that side's call
 *   fails; the other waits on as if the message had not come, so a client
 *   cannot make a server's receive fail.
 *
 * Objects, handles, references
 *   Endpoints, notifications and reply rights are objects with a count of
 *   the references to them: handles in tables, threads queued on them,
 *   reply rights held. The last reference frees it. An endpoint counts
 *   its handles with the receive right: when the last goes, no message
 *   can ever be received there, so the endpoint is dead: its waiting
 *   senders and callers wake with -EPIPE and later ones get it at once.
 *   A reply right is a reference to the caller's own IPC state (one per
 *   thread, with a number for each call it makes): when the right is used,
 *   dropped (a new call received over it, the server thread ending, its
 *   handle closed) or outlived (the caller was killed or timed out), the
 *   number tells whether the caller still waits for that reply. A dropped
 *   right wakes its caller with -EPIPE, so nobody waits for ever on a
 *   server that is gone.
 *
 * Waiting
 *   A thread that must wait queues itself, marks itself asleep and
 *   schedules, all under ipc_lock with interrupts off, as a wait queue does
 *   (kernel/sync.c): a partner that finds it under the same lock sets its
 *   `done` and result and wakes it, so no wakeup is lost. It wakes also
 *   when its timeout passes or its process is being killed (ipc_kick);
 *   then it takes itself off the queue and returns -ETIMEDOUT or -EINTR.
 *   The fast paths wait through fast_wait, the first round of that loop
 *   inline: the hand-off to the partner, and on a wake with done set the
 *   result without the lock again; anything else continues in the loop.
 *
 * Locking
 *   One lock, ipc_lock, a spinlock taken with interrupts off, guards every
 *   endpoint, notification, handle table and thread's IPC state: seL4's
 *   choice (one kernel lock), which a course can follow line by line; the
 *   price is that IPC on different CPUs goes one at a time through it.
 *   Under it: the run-queue locks (waking), the page tables' lock (a
 *   foreign lookup), the heap's (freeing). A copy to or from another
 *   space runs under it, so the pages it looked up cannot be freed
 *   meanwhile: a process that unmaps user pages waits for ipc_lock once
 *   before it frees them (ipc_unmap_barrier).
 *
 * Invariants
 *   - A thread's IPC state `wait` is W_NONE except while it is inside an
 *     IPC call that waits; `on` names the object whose queue it is on
 *     (and holds a reference to it), or NULL.
 *   - A caller in W_REPLY is on no queue; exactly one reply right names it
 *     with its current `gen`, or none (and then it is about to wake).
 *   - recv_handles of an endpoint is the number of handles with
 *     IPC_R_RECV to it in every table; 0 means dead, for good.
 */
#include <trace.h>
#include <ipc.h>
#include <arch.h>
#include <mm.h>
#include <monitor.h>
#include <percpu.h>
#include <printk.h>
#include <proc.h>
#include <sched.h>
#include <spinlock.h>
#include <string.h>
#include <thread.h>
#include <timer.h>
#include <uaccess.h>
#include <uapi/errno.h>
#include <vmm.h>

static struct spinlock ipc_lock = SPINLOCK_INIT("ipc");

/* The raw form, with interrupts off (spinlock.h): held on every IPC call,
 * where the held-lock record of spin_lock would cost more than the rest
 * of the call; nothing under it sleeps (the one sleep, in
 * wait_for_partner, drops it first), so that record has nothing to catch. */
static inline unsigned long ipc_lock_take(void)
{
	unsigned long irq = arch_irq_save();
	spin_lock_raw(&ipc_lock);
	return irq;
}

static inline void ipc_lock_give(unsigned long irq)
{
	spin_unlock_raw(&ipc_lock);
	arch_irq_restore(irq);
}

struct ipc_obj {
	uint32_t type;			/* IPC_OBJ_* */
	uint32_t refs;
	uint64_t id;			/* for SYS_handle_info: tests compare objects */
};

struct endpoint {
	struct ipc_obj o;
	struct list senders;		/* struct ipc_tcb by link: W_SEND and W_CALL */
	struct list receivers;		/* W_RECV */
	uint32_t recv_handles;		/* handles with IPC_R_RECV; 0: dead */
};

struct notification {
	struct ipc_obj o;
	uint64_t bits;			/* signalled and not yet taken */
	struct list waiters;		/* W_NOTIFY */
	uint32_t send_handles;		/* handles with IPC_R_SEND; 0: nobody can
					 * signal it, waiting is in vain */
};

struct handle {
	struct ipc_obj *obj;		/* NULL: a free slot */
	uint32_t rights;
	uint64_t badge;			/* endpoints: told to receivers; replies: the call's gen */
};

/* A process's handles (proc->ipc). */
struct ipc_space {
	struct handle h[IPC_HANDLES_MAX];
	int used;
};

enum { W_NONE, W_SEND, W_CALL, W_RECV, W_REPLY, W_NOTIFY };

struct kmsg {
	uint64_t label, w[IPC_MSG_WORDS];
	uint64_t badge;			/* of the sender's handle */
	bool call;			/* came by call: a reply is owed */
};

/* A thread's IPC state (thread->ipc), made at its first IPC call. */
struct ipc_tcb {
	/* IPC_OBJ_REPLY: what a reply right names. refs: one for the thread
	 * while it lives, one per reply right naming it. */
	struct ipc_obj reply;
	struct thread *thread;		/* NULL once it has ended */
	struct proc *proc;
	struct list link;		/* on `on`'s queue */
	struct ipc_obj *on;
	int wait;			/* W_* */
	bool done;			/* a partner completed the wait: result holds */
	int result;
	uint64_t gen;			/* its calls, counted: the current one's */
	struct kmsg msg;		/* sent from or received into */
	bool has_ext;
	struct ipc_ext ext;		/* the caller's, copied in */
	unsigned user_room, user_handle_room;	/* as the caller gave them */
	uint64_t bits;			/* W_NOTIFY: the bits taken */
	struct ipc_tcb *reply_to;	/* the reply right it holds, or NULL */
	uint64_t reply_gen;
	/* a partner it completed and has not woken: it runs next, in this
	 * thread's place, when this one waits (the direct hand-off) */
	struct ipc_tcb *handoff;
};

static struct {
	uint64_t endpoints, notifications, replies, handles;
	uint64_t messages, bytes, fast, irqs;
	uint64_t next_id;
} stats;

/* ---- objects ---- */

static void obj_ref(struct ipc_obj *o)
{
	o->refs++;
}

/* A VM behind a handle (kernel/vmm/uvm.c): the object holds one of the
 * VM's references. Destroying a VM sleeps, which nothing under ipc_lock
 * may: the last reference to the object puts it on the reap list, and
 * ipc_reap, called with the lock dropped (handle_close, a process's end,
 * vm_create), lets the VM go. */
struct vm_obj {
	struct ipc_obj o;
	struct vm *vm;
	struct vm_obj *reap_next;
};
static struct vm_obj *reap_list;	/* under ipc_lock */

static void obj_unref(struct ipc_obj *o)
{
	if (--o->refs)
		return;
	if (o->type == IPC_OBJ_VM) {
		struct vm_obj *vo = (struct vm_obj *)o;
		vo->reap_next = reap_list;
		reap_list = vo;
		return;
	}
	switch (o->type) {
	case IPC_OBJ_ENDPOINT:
		stats.endpoints--;
		break;
	case IPC_OBJ_NOTIFICATION:
		stats.notifications--;
		break;
	case IPC_OBJ_REPLY:		/* the thread has ended and no right names it */
		stats.replies--;
		break;
	}
	kmem_free(o);			/* each kind starts with its ipc_obj */
}

static void obj_init(struct ipc_obj *o, uint32_t type)
{
	o->type = type;
	o->refs = 0;
	o->id = ++stats.next_id;
}

/* ---- waking and waiting ---- */

static void enqueue(struct ipc_tcb *w, struct ipc_obj *on, struct list *q)
{
	w->on = on;
	obj_ref(on);
	list_add_tail(q, &w->link);
}

static void unqueue(struct ipc_tcb *w)
{
	if (!w->on)
		return;
	list_remove(&w->link);
	struct ipc_obj *on = w->on;
	w->on = NULL;
	obj_unref(on);
}

/* Ends w's wait with `result`: off its queue, woken. */
static void complete(struct ipc_tcb *w, int result)
{
	unqueue(w);
	w->wait = W_NONE;
	w->result = result;
	/* after result: fast_wait reads done without the lock */
	__atomic_store_n(&w->done, true, __ATOMIC_RELEASE);
	sched_wakeup(w->thread);
}

/* complete(), but w is left asleep for me to hand this CPU to when I
 * wait (wait_for_partner), or to wake on my way out (handoff_flush). */
static inline __attribute__((always_inline)) void complete_handoff(struct ipc_tcb *me,
								 struct ipc_tcb *w, int result)
{
	unqueue(w);
	w->wait = W_NONE;
	w->result = result;
	/* after result: fast_wait reads done without the lock */
	__atomic_store_n(&w->done, true, __ATOMIC_RELEASE);
	me->handoff = w;
}

static void handoff_flush(struct ipc_tcb *me)
{
	if (me->handoff) {
		sched_wakeup(me->handoff->thread);
		me->handoff = NULL;
	}
}

/*
 * Sleeps until a partner completes the wait me->wait describes (its result
 * is returned), or deadline_ns (0: none) passes (-ETIMEDOUT), or the
 * process is being killed (-EINTR). ipc_lock held through *irq; held
 * again on return, and me->wait is W_NONE.
 */
static int wait_loop(struct ipc_tcb *me, unsigned long *irq, uint64_t deadline_ns);

static int wait_for_partner(struct ipc_tcb *me, unsigned long *irq, uint64_t deadline_ns)
{
	me->done = false;
	return wait_loop(me, irq, deadline_ns);
}

/*
 * The fast paths' wait: wait_for_partner's first round, inline, for the
 * usual case: the partner the call completed may have this CPU and is
 * claimed, this CPU goes to it, and this thread comes back with its wait
 * done, so there is no lock to take again (the partner set done and the
 * result under ipc_lock before it switched to us or woke us, and our
 * switch-in comes after either). Anything else (the process dying, a
 * partner that may not run here or is awake already, a wake without
 * done) goes on in the general loop, which takes it from there without
 * clearing done. ipc_lock held through irq on entry; not held on return.
 */
static inline __attribute__((always_inline)) int fast_wait(struct ipc_tcb *me, unsigned long irq)
{
	struct thread *t = curthread;
	struct thread *next = me->handoff->thread;
	me->done = false;
	if (likely(!t->proc->dying) && sched_handoff_prepare(next)) {
		me->handoff = NULL;
		spin_unlock_raw(&ipc_lock);	/* interrupts stay off until the switch */
		sched_sleep_and_run(next);
		/* not while dying: a kick may have woken us as a partner on
		 * another CPU completes us, and its wakeup must have landed
		 * (it has, once we hold ipc_lock) before we may sleep again */
		if (likely(__atomic_load_n(&me->done, __ATOMIC_ACQUIRE)) && likely(!t->proc->dying)) {
			int r = me->result;
			arch_irq_restore(irq);
			return r;
		}
		spin_lock_raw(&ipc_lock);	/* (interrupts are still off) */
	}
	int r = wait_loop(me, &irq, 0);
	ipc_lock_give(irq);
	return r;
}

static int wait_loop(struct ipc_tcb *me, unsigned long *irq, uint64_t deadline_ns)
{
	struct thread *t = curthread;
	for (;;) {
		if (me->done)
			return me->result;
		if (t->proc->dying || (deadline_ns && clock_ns() >= deadline_ns))
			break;
		/* The partner left asleep for us: if it may have this CPU,
		 * claimed now, under the lock, so that no timeout of its own
		 * can wake it and let it go; if not, woken the usual way while
		 * we are still awake (after our sleep we may touch no other
		 * CPU's run queue: sched_sleep_and_run). */
		struct thread *next = NULL;
		if (me->handoff) {
			next = me->handoff->thread;
			me->handoff = NULL;
			if (!sched_may_hand_off(next)) {
				sched_wakeup(next);
				next = NULL;
			} else if (!sched_claim(next)) {
				next = NULL;		/* awake already */
			}
		}
		sched_prepare_sleep();
		if (deadline_ns)
			sched_timeout_arm(t, deadline_ns);
		spin_unlock_raw(&ipc_lock);	/* interrupts stay off until the switch */
		if (next)
			sched_sleep_and_run(next);
		else
			schedule();
		arch_irq_restore(*irq);
		if (deadline_ns)
			sched_timeout_cancel(t);
		*irq = ipc_lock_take();
	}
	/* Gave up. A caller whose message was taken is on no queue, and the
	 * reply right that names it now finds it no longer waiting. */
	handoff_flush(me);
	unqueue(me);
	me->wait = W_NONE;
	return t->proc->dying ? -EINTR : -ETIMEDOUT;
}

/* now + timeout_ns, or 0 (no timeout) for 0; a sum that would wrap is
 * the end of time, not a moment in the past. */
static uint64_t deadline_after(uint64_t timeout_ns)
{
	if (!timeout_ns)
		return 0;
	uint64_t now = clock_ns();
	return timeout_ns > ~0UL - now ? ~0UL : now + timeout_ns;
}

static uint64_t deadline_of(const struct ipc_tcb *me)
{
	return deadline_after(me->has_ext ? me->ext.timeout_ns : 0);
}

/* ---- handles (ipc_lock held) ---- */

static struct handle *handle_get(struct ipc_space *sp, long h, uint32_t type, uint32_t rights,
				 int *err)
{
	if (!sp || h < 0 || h >= IPC_HANDLES_MAX || !sp->h[h].obj ||
	    (type && sp->h[h].obj->type != type)) {
		*err = -EBADF;
		return NULL;
	}
	if ((sp->h[h].rights & rights) != rights) {
		*err = -EPERM;
		return NULL;
	}
	return &sp->h[h];
}

/* The lowest free slot, or -1. */
static int slot_free(struct ipc_space *sp)
{
	if (sp->used == IPC_HANDLES_MAX)
		return -1;
	for (int i = 0; i < IPC_HANDLES_MAX; i++)
		if (!sp->h[i].obj)
			return i;
	return -1;
}

/* Puts a handle in slot i (free): the table's reference, the endpoint's
 * count of receivers. */
static void slot_fill(struct ipc_space *sp, int i, struct ipc_obj *o, uint32_t rights,
		      uint64_t badge)
{
	sp->h[i] = (struct handle){ o, rights, badge };
	sp->used++;
	stats.handles++;
	obj_ref(o);
	if (o->type == IPC_OBJ_ENDPOINT && (rights & IPC_R_RECV))
		((struct endpoint *)o)->recv_handles++;
	if (o->type == IPC_OBJ_NOTIFICATION && (rights & IPC_R_SEND))
		((struct notification *)o)->send_handles++;
}

static void reply_drop(struct ipc_tcb *caller, uint64_t gen);

/* An endpoint nobody can receive on any more: its waiters learn it. */
static void endpoint_die(struct endpoint *ep)
{
	while (!list_empty(&ep->senders))
		complete(list_entry(ep->senders.next, struct ipc_tcb, link), -EPIPE);
	while (!list_empty(&ep->receivers))
		complete(list_entry(ep->receivers.next, struct ipc_tcb, link), -EPIPE);
}

static void slot_close(struct ipc_space *sp, int i)
{
	struct handle hd = sp->h[i];
	sp->h[i] = (struct handle){ 0 };
	sp->used--;
	stats.handles--;
	if (hd.obj->type == IPC_OBJ_ENDPOINT && (hd.rights & IPC_R_RECV)) {
		struct endpoint *ep = (struct endpoint *)hd.obj;
		if (--ep->recv_handles == 0) {
			obj_ref(&ep->o);	/* through the wakeups */
			endpoint_die(ep);
			obj_unref(&ep->o);
		}
	}
	if (hd.obj->type == IPC_OBJ_NOTIFICATION && (hd.rights & IPC_R_SEND)) {
		struct notification *n = (struct notification *)hd.obj;
		if (--n->send_handles == 0) {
			obj_ref(&n->o);		/* through the wakeups */
			while (!list_empty(&n->waiters))
				complete(list_entry(n->waiters.next, struct ipc_tcb, link), -EPIPE);
			obj_unref(&n->o);
		}
	}
	if (hd.obj->type == IPC_OBJ_REPLY) {
		reply_drop((struct ipc_tcb *)hd.obj, hd.badge);
		return;				/* reply_drop took the reference */
	}
	obj_unref(hd.obj);
}

/* ---- reply rights ---- */

/* The right to reply to caller's call number gen goes away unused. */
static void reply_drop(struct ipc_tcb *caller, uint64_t gen)
{
	if (caller->wait == W_REPLY && caller->gen == gen)
		complete(caller, -EPIPE);
	obj_unref(&caller->reply);
}

/* r takes the right to reply to c's current call, dropping any it held. */
static void reply_take(struct ipc_tcb *r, struct ipc_tcb *c)
{
	if (r->reply_to)
		reply_drop(r->reply_to, r->reply_gen);
	r->reply_to = c;
	r->reply_gen = c->gen;
	obj_ref(&c->reply);
}

/* ---- the message ---- */

/* Are all the pages of [va, va + len) in as mapped (and writable, if
 * `write`)? What a copy checks before it moves a byte. */
static bool range_mapped(struct aspace *as, uint64_t va, uint32_t len, bool write)
{
	for (uint64_t p = ALIGN_DOWN(va, PAGE_SIZE); p < va + len; p += PAGE_SIZE) {
		unsigned flags = 0;
		if (!aspace_lookup(as, p, &flags) || (write && !(flags & PAGE_WRITE)))
			return false;
	}
	return true;
}

/*
 * The long part, from s's memory to r's: one of them is the running
 * thread, whose side goes through copyin/copyout; the other's through its
 * space's page tables, page by page. -EFAULT, and *r_fault says whose
 * buffer it was. Both sides are checked whole first, so a message that
 * cannot pass changes nothing of the receiver's (and the pages stay: their
 * owners' unmaps wait for ipc_lock before they free, ipc_unmap_barrier).
 */
static int copy_data(struct ipc_tcb *s, struct ipc_tcb *r, uint32_t len, bool *r_fault)
{
	bool to_other = s->thread == curthread;
	struct ipc_tcb *other = to_other ? r : s;
	struct aspace *as = other->proc->as, *mine = curproc->as;
	uint64_t src = (uint64_t)s->ext.data, dst = (uint64_t)r->ext.data;
	if (!range_mapped(to_other ? mine : as, src, len, false)) {
		*r_fault = false;
		return -EFAULT;
	}
	if (!as || !range_mapped(to_other ? as : mine, dst, len, true)) {
		*r_fault = true;
		return -EFAULT;
	}
	for (uint32_t done = 0; done < len;) {
		uint64_t ova = (to_other ? dst : src) + done;
		uint32_t chunk = MIN(len - done, (uint32_t)(PAGE_SIZE - (ova & (PAGE_SIZE - 1))));
		uint64_t pa = aspace_lookup(as, ova, NULL);
		int err = to_other ? copyin((void *)pa, src + done, chunk)
				   : copyout(dst + done, (const void *)pa, chunk);
		if (err) {
			*r_fault = !to_other;	/* our own side, unmapped by a thread of ours */
			return -EFAULT;
		}
		done += chunk;
	}
	return 0;
}

/*
 * s's message into r: the words, the data, the handles. 0, or an error
 * and *r_fault saying whether it is r's (a bad buffer of r's) or s's (too
 * much for r, a bad handle, r's table full, a bad buffer of s's).
 */
static int deliver(struct ipc_tcb *s, struct ipc_tcb *r, bool *r_fault)
{
	*r_fault = false;
	uint32_t len = s->has_ext ? s->ext.len : 0, nh = s->has_ext ? s->ext.nhandles : 0;
	if (len > (r->has_ext ? r->ext.room : 0) || nh > (r->has_ext ? r->ext.handle_room : 0))
		return -EMSGSIZE;
	struct ipc_space *ss = s->proc->ipc, *rs = r->proc->ipc;
	int err;
	for (uint32_t i = 0; i < nh; i++) {
		if (!handle_get(ss, s->ext.handles[i], 0, 0, &err))
			return err;
		for (uint32_t j = 0; j < i; j++)
			if (s->ext.handles[j] == s->ext.handles[i])
				return -EINVAL;		/* one handle moved twice */
	}
	if (nh && IPC_HANDLES_MAX - rs->used < (int)nh)
		return -ENOSPC;
	if (len && (err = copy_data(s, r, len, r_fault)))
		return err;
	for (uint32_t i = 0; i < nh; i++) {
		/* moved as it is: its reference, its count of receivers and a
		 * reply right's number go with it */
		int from = s->ext.handles[i], slot = slot_free(rs);
		rs->h[slot] = ss->h[from];
		rs->used++;
		ss->h[from] = (struct handle){ 0 };
		ss->used--;
		r->ext.handles[i] = slot;
	}
	r->ext.nhandles = nh;
	r->ext.len = len;
	r->msg = s->msg;
	stats.messages++;
	stats.bytes += len;
	return 0;
}

/* ---- entering and leaving an IPC call ---- */

/* The calling thread's IPC state, and its process's table, made if need be
 * (before ipc_lock: the allocation may not wait, but it takes a lock). */
static struct ipc_tcb *ipc_make(int *err);

static inline struct ipc_tcb *ipc_self(int *err)
{
	struct thread *t = curthread;
	if (likely(t->ipc && t->proc->ipc))
		return t->ipc;			/* every call but a thread's first */
	return ipc_make(err);
}

static __attribute__((noinline)) struct ipc_tcb *ipc_make(int *err)
{
	struct thread *t = curthread;
	struct proc *p = t->proc;
	if (!p) {
		*err = -EPERM;
		return NULL;
	}
	if (!p->ipc) {
		struct ipc_space *sp = kmem_zalloc(sizeof(*sp), KM_USER);
		if (!sp) {
			*err = -ENOMEM;
			return NULL;
		}
		unsigned long irq = ipc_lock_take();
		if (!p->ipc) {
			p->ipc = sp;
			sp = NULL;
		}
		ipc_lock_give(irq);
		if (sp)
			kmem_free(sp);		/* another thread made it first */
	}
	if (!t->ipc) {
		struct ipc_tcb *me = kmem_zalloc(sizeof(*me), KM_USER);
		if (!me) {
			*err = -ENOMEM;
			return NULL;
		}
		obj_init(&me->reply, IPC_OBJ_REPLY);
		me->reply.refs = 1;		/* the thread's */
		me->thread = t;
		me->proc = p;
		list_init(&me->link);
		unsigned long irq = ipc_lock_take();
		stats.replies++;
		t->ipc = me;
		ipc_lock_give(irq);
	}
	return t->ipc;
}

/*
 * The struct ipc_ext of a call with IPC_EXT, checked: 0 or -errno. A call
 * that receives writes it back (hand_out): that it can is tested here,
 * before anything is taken, since a message taken and then not reported
 * (its handles in the table under numbers nobody was told) would be lost.
 */
static int load_ext(struct ipc_tcb *me, uint64_t flags, uint64_t uext, bool receives)
{
	me->has_ext = flags & IPC_EXT;
	if (!me->has_ext)
		return 0;
	if (copyin(&me->ext, uext, sizeof(me->ext)) ||
	    (receives && copyout(uext, &me->ext, sizeof(me->ext))))
		return -EFAULT;
	struct ipc_ext *e = &me->ext;
	me->user_room = e->room;		/* given back as they were */
	me->user_handle_room = e->handle_room;
	if (e->len > IPC_DATA_MAX || e->nhandles > IPC_MSG_HANDLES)
		return -EMSGSIZE;
	e->room = MIN(e->room, (unsigned)IPC_DATA_MAX);
	e->handle_room = MIN(e->handle_room, (unsigned)IPC_MSG_HANDLES);
	size_t span = MAX(e->len, e->room);
	if (span && !user_range_ok((uint64_t)e->data, span))
		return -EFAULT;
	return 0;
}

/* The flags a call may carry; others are -EINVAL. */
#define IPC_FLAGS (IPC_EXT | IPC_NONBLOCK)

static int check_flags(uint64_t hf)
{
	return (hf & ~IPC_HANDLE_MASK & ~IPC_FLAGS) ? -EINVAL : 0;
}

/* Handle numbers come in the low 32 bits; a value outside the table is
 * -EBADF through handle_get. */
static long handle_of(uint64_t hf)
{
	return (long)(uint32_t)(hf & IPC_HANDLE_MASK);
}

/* A received message, out to the caller: the words in its registers, the
 * ext's results in its memory. ipc_lock not held. */
static inline __attribute__((always_inline)) long hand_out(struct ipc_tcb *me, uint64_t uext)
{
	struct thread *t = curthread;
	arch_uregs_set_args6(arch_user_frame_at(t->stack + t->stack_size),
			     me->msg.badge | (me->msg.call ? IPC_FROM_CALL : 0), me->msg.label,
			     me->msg.w[0], me->msg.w[1], me->msg.w[2], me->msg.w[3]);
	if (unlikely(me->has_ext)) {
		me->ext.room = me->user_room;
		me->ext.handle_room = me->user_handle_room;
		if (copyout(uext, &me->ext, sizeof(me->ext)))
			return -EFAULT;	/* unmapped since load_ext: the caller's doing */
	}
	return 0;
}

/* ---- the calls ---- */

static void set_msg(struct ipc_tcb *me, uint64_t label, long w0, long w1, long w2, long w3,
		    bool call)
{
	me->msg = (struct kmsg){ .label = label, .w = { w0, w1, w2, me->has_ext ? 0 : w3 },
				 .call = call };
}

/*
 * Sends me->msg on ep: to the first receiver that can take it, else
 * queued (unless nonblock). For a call, then waits for the reply.
 */
static int send_on(struct ipc_tcb *me, struct endpoint *ep, bool nonblock, unsigned long *irq)
{
	bool call = me->msg.call;
	uint64_t deadline = deadline_of(me);
	if (call)
		me->gen++;
	while (!list_empty(&ep->receivers)) {
		struct ipc_tcb *r = list_entry(ep->receivers.next, struct ipc_tcb, link);
		bool r_fault;
		int err = deliver(me, r, &r_fault);
		if (err && !r_fault)
			return err;			/* ours: r waits on */
		if (err) {
			complete(r, err);		/* its buffer: the next one */
			continue;
		}
		if (call) {
			reply_take(r, me);
			complete_handoff(me, r, 0);	/* r runs as we wait */
			me->wait = W_REPLY;
			return wait_for_partner(me, irq, deadline);
		}
		complete(r, 0);
		return 0;
	}
	if (!ep->recv_handles)
		return -EPIPE;
	if (nonblock)
		return -EAGAIN;
	me->wait = call ? W_CALL : W_SEND;
	enqueue(me, &ep->o, &ep->senders);
	return wait_for_partner(me, irq, deadline);
}

/* Receives on ep into me->msg: from the first sender whose message can
 * come, else waits (unless nonblock). */
static int recv_on(struct ipc_tcb *me, struct endpoint *ep, bool nonblock, unsigned long *irq)
{
	while (!list_empty(&ep->senders)) {
		struct ipc_tcb *s = list_entry(ep->senders.next, struct ipc_tcb, link);
		bool r_fault;
		int err = deliver(s, me, &r_fault);
		if (err && r_fault)
			return err;			/* ours: s waits on */
		if (err) {
			complete(s, err);		/* the sender's: the next one */
			continue;
		}
		if (s->wait == W_CALL) {
			unqueue(s);
			s->wait = W_REPLY;		/* it sleeps on, for the reply */
			reply_take(me, s);
		} else {
			complete(s, 0);
		}
		return 0;
	}
	if (!ep->recv_handles)
		return -EPIPE;
	if (nonblock)
		return -EAGAIN;
	me->wait = W_RECV;
	enqueue(me, &ep->o, &ep->receivers);
	return wait_for_partner(me, irq, deadline_of(me));
}

/* me->msg to the caller named by the right (c, gen), which me gives up.
 * The right comes back to me if the fault is mine (the server may try
 * again with a message that fits). */
static int reply_with(struct ipc_tcb *me, struct ipc_tcb *c, uint64_t gen, bool *keep,
		      bool handoff, bool *went)
{
	*keep = false;
	*went = false;
	if (c->wait != W_REPLY || c->gen != gen)
		return -EPIPE;			/* the caller is gone, or gave up */
	bool r_fault;
	int err = deliver(me, c, &r_fault);
	if (err && !r_fault) {
		*keep = true;
		return err;
	}
	*went = !err;
	if (handoff)
		complete_handoff(me, c, err);	/* it runs when we wait */
	else
		complete(c, err);		/* a bad buffer of the caller's is its own */
	return 0;
}

static int reply_slot(struct ipc_tcb *me, bool handoff)
{
	struct ipc_tcb *c = me->reply_to;
	if (!c)
		return -EBADF;			/* no call received that is still owed */
	uint64_t gen = me->reply_gen;
	bool keep, went;
	int err = reply_with(me, c, gen, &keep, handoff, &went);
	if (keep)
		return err;
	me->reply_to = NULL;
	obj_unref(&c->reply);
	return err;
}

/* send and call's general path: the message, then send_on (which, for a
 * call, waits for the reply too). */
static long send_general(long hf, long label, long w0, long w1, long w2, long w3, bool call)
{
	int err = check_flags(hf);
	struct ipc_tcb *me = err ? NULL : ipc_self(&err);
	if (!me || (err = load_ext(me, hf, w3, call)))
		return err;
	set_msg(me, label, w0, w1, w2, w3, call);
	unsigned long irq = ipc_lock_take();
	struct handle *h = handle_get(me->proc->ipc, handle_of(hf), IPC_OBJ_ENDPOINT, IPC_R_SEND,
				      &err);
	if (h && me->has_ext && me->ext.nhandles && !(h->rights & IPC_R_GRANT))
		h = NULL, err = -EPERM;
	if (h) {
		me->msg.badge = h->badge;
		err = send_on(me, (struct endpoint *)h->obj, hf & IPC_NONBLOCK, &irq);
	}
	ipc_lock_give(irq);
	return err || !call ? err : hand_out(me, w3);
}

long sys_ipc_send(long hf, long label, long w0, long w1, long w2, long w3)
{
	return send_general(hf, label, w0, w1, w2, w3, false);
}

/*
 * The fast paths (after L4's and seL4's): the two calls a client and a
 * server make most, when they carry nothing but registers and the partner
 * already waits. They do what the general path would, in the order it
 * would, less its generality: no ext to read or write, no data, no
 * handles, no timeout, no search for a partner that can take the message.
 * Anything else (a flag, no partner waiting, a handle that is not what
 * it should be) goes to the general path, which also says what was wrong.
 */
static inline struct handle *fast_handle(struct ipc_space *sp, uint64_t hf, uint32_t type,
					 uint32_t right)
{
	if (hf >= IPC_HANDLES_MAX)
		return NULL;			/* flags, or out of range */
	struct handle *h = &sp->h[hf];
	return h->obj && h->obj->type == type && (h->rights & right) ? h : NULL;
}

/* A call to an endpoint a receiver waits on: the message into it, the
 * reply right to it, and this CPU to it while we wait for the reply. */
static inline __attribute__((always_inline)) bool fast_call(struct ipc_tcb *me, uint64_t hf,
							  const uint64_t w[5], long *ret)
{
	unsigned long irq = ipc_lock_take();
	struct handle *h = fast_handle(me->proc->ipc, hf, IPC_OBJ_ENDPOINT, IPC_R_SEND);
	struct endpoint *ep = h ? (struct endpoint *)h->obj : NULL;
	if (!ep || list_empty(&ep->receivers)) {
		ipc_lock_give(irq);
		return false;
	}
	struct ipc_tcb *r = list_entry(ep->receivers.next, struct ipc_tcb, link);
	r->msg = (struct kmsg){ w[0], { w[1], w[2], w[3], w[4] }, h->badge, true };
	if (r->has_ext)
		r->ext.len = r->ext.nhandles = 0;
	me->has_ext = false;
	me->gen++;
	reply_take(r, me);
	complete_handoff(me, r, 0);
	me->wait = W_REPLY;
	stats.messages++;
	stats.fast++;
	int err = fast_wait(me, irq);
	*ret = err ? err : hand_out(me, 0);
	return true;
}

/* A reply to a caller that waits for it, then a receive on an endpoint no
 * sender waits on: the reply into the caller, this thread onto the queue
 * of receivers, and this CPU to the caller. */
static bool fast_reply_recv(struct ipc_tcb *me, uint64_t hf, const uint64_t w[5], long *ret)
{
	unsigned long irq = ipc_lock_take();
	struct handle *h = fast_handle(me->proc->ipc, hf, IPC_OBJ_ENDPOINT, IPC_R_RECV);
	struct endpoint *ep = h ? (struct endpoint *)h->obj : NULL;
	struct ipc_tcb *c = me->reply_to;
	if (!ep || !list_empty(&ep->senders) || !c || c->wait != W_REPLY || c->gen != me->reply_gen) {
		ipc_lock_give(irq);
		return false;
	}
	c->msg = (struct kmsg){ w[0], { w[1], w[2], w[3], w[4] }, 0, false };
	if (c->has_ext)
		c->ext.len = c->ext.nhandles = 0;
	me->reply_to = NULL;
	obj_unref(&c->reply);			/* not the last: c's own stays */
	complete_handoff(me, c, 0);
	stats.messages++;
	stats.fast++;
	me->has_ext = false;
	me->wait = W_RECV;
	enqueue(me, &ep->o, &ep->receivers);
	int err = fast_wait(me, irq);
	*ret = err ? err : hand_out(me, 0);
	return true;
}

/* trace=ipc: a call's two ends, the slice of the caller's (TR_IPC_CALL, _END). */
static __attribute__((noinline, cold)) void trace_ipc(uint32_t type, uint64_t a, uint64_t b)
{
	unsigned long irq = arch_irq_save();	/* the ring is this CPU's */
	trace_log(type, a, b);
	arch_irq_restore(irq);
}

static inline __attribute__((always_inline)) long ipc_call(long hf, long label, long w0, long w1,
							   long w2, long w3)
{
	struct thread *t = curthread;
	long ret;
	if (likely(t->ipc && t->proc->ipc) &&
	    fast_call(t->ipc, (uint64_t)hf, (const uint64_t[5]){ label, w0, w1, w2, w3 }, &ret))
		return ret;
	return send_general(hf, label, w0, w1, w2, w3, true);
}

/* The call between its two trace records: out of line, with a copy of
 * the call's code, so that the usual path pays one test. */
static __attribute__((noinline, cold)) long traced_call(long hf, long label, long w0, long w1,
							 long w2, long w3)
{
	trace_ipc(TR_IPC_CALL, (uint64_t)hf, (uint64_t)label);
	long ret = ipc_call(hf, label, w0, w1, w2, w3);
	trace_ipc(TR_IPC_CALL_END, (uint64_t)ret, 0);
	return ret;
}

long sys_ipc_call(long hf, long label, long w0, long w1, long w2, long w3)
{
	if (trace_on(TRACE_IPC))
		return traced_call(hf, label, w0, w1, w2, w3);
	return ipc_call(hf, label, w0, w1, w2, w3);
}

long sys_ipc_recv(long hf, long a1, long a2, long a3, long a4, long uext)
{
	int err = check_flags(hf);
	struct ipc_tcb *me = err ? NULL : ipc_self(&err);
	if (!me || (err = load_ext(me, hf, uext, true)))
		return err;
	if (me->has_ext)
		me->ext.len = me->ext.nhandles = 0;
	unsigned long irq = ipc_lock_take();
	struct handle *h = handle_get(me->proc->ipc, handle_of(hf), IPC_OBJ_ENDPOINT, IPC_R_RECV,
				      &err);
	if (h)
		err = recv_on(me, (struct endpoint *)h->obj, hf & IPC_NONBLOCK, &irq);
	ipc_lock_give(irq);
	return err ? err : hand_out(me, uext);
}

/* RDI's handle part: IPC_REPLY_SLOT, or a handle to a saved reply right. */
static int reply_any(struct ipc_tcb *me, long hnum)
{
	if (hnum == (long)IPC_REPLY_SLOT)
		return reply_slot(me, false);
	int err;
	struct handle *h = handle_get(me->proc->ipc, hnum, IPC_OBJ_REPLY, 0, &err);
	if (!h)
		return err;
	/* the reply may move this very right to the caller: then it is the
	 * caller's now, and there is nothing here to close */
	bool moving = false;
	for (unsigned i = 0; me->has_ext && i < me->ext.nhandles; i++)
		moving |= me->ext.handles[i] == (int)hnum;
	bool keep, went;
	err = reply_with(me, (struct ipc_tcb *)h->obj, h->badge, &keep, false, &went);
	if (!keep && !(moving && went)) {
		h->badge = ~0UL;		/* used: closing it drops nothing */
		slot_close(me->proc->ipc, (int)hnum);
	}
	return err;
}

long sys_ipc_reply(long hf, long label, long w0, long w1, long w2, long w3)
{
	int err = check_flags(hf);
	struct ipc_tcb *me = err ? NULL : ipc_self(&err);
	if (!me || (err = load_ext(me, hf, w3, false)))
		return err;
	set_msg(me, label, w0, w1, w2, w3, false);
	unsigned long irq = ipc_lock_take();
	err = reply_any(me, handle_of(hf));
	ipc_lock_give(irq);
	return err;
}

/*
 * A server's loop in one trap: the reply to the call it holds the right
 * for (none held: nothing to reply; the caller gone: -EPIPE, which does
 * not stop the receive), then a receive on the handle.
 */
long sys_ipc_reply_recv(long hf, long label, long w0, long w1, long w2, long w3)
{
	struct thread *t = curthread;
	long ret;
	if (likely(t->ipc && t->proc->ipc) &&
	    fast_reply_recv(t->ipc, (uint64_t)hf, (const uint64_t[5]){ label, w0, w1, w2, w3 }, &ret))
		return ret;
	int err = check_flags(hf);
	struct ipc_tcb *me = err ? NULL : ipc_self(&err);
	if (!me || (err = load_ext(me, hf, w3, true)))
		return err;
	set_msg(me, label, w0, w1, w2, w3, false);
	unsigned long irq = ipc_lock_take();
	struct handle *h = handle_get(me->proc->ipc, handle_of(hf), IPC_OBJ_ENDPOINT, IPC_R_RECV,
				      &err);
	if (h && me->reply_to) {
		err = reply_slot(me, true);
		if (err == -EPIPE)
			err = 0;
		/* the reply may have moved the handle we receive on */
		if (!err)
			h = handle_get(me->proc->ipc, handle_of(hf), IPC_OBJ_ENDPOINT, IPC_R_RECV,
				       &err);
	}
	if (h && !err) {
		if (me->has_ext)
			me->ext.len = me->ext.nhandles = 0;
		err = recv_on(me, (struct endpoint *)h->obj, hf & IPC_NONBLOCK, &irq);
	}
	handoff_flush(me);			/* the receive did not wait */
	ipc_lock_give(irq);
	return err ? err : hand_out(me, w3);
}

/* The reply right of the last call received, into a handle of its own:
 * a server that answers later (the console's read waiting for a line). */
long sys_ipc_reply_save(void)
{
	int err;
	struct ipc_tcb *me = ipc_self(&err);
	if (!me)
		return err;
	unsigned long irq = ipc_lock_take();
	struct ipc_space *sp = me->proc->ipc;
	int slot = me->reply_to ? slot_free(sp) : -1;
	if (!me->reply_to)
		err = -EBADF;
	else if (slot < 0)
		err = -ENOSPC;
	else {
		slot_fill(sp, slot, &me->reply_to->reply, 0, me->reply_gen);
		obj_unref(&me->reply_to->reply);	/* the slot's reference is now the handle's */
		me->reply_to = NULL;
		err = slot;
	}
	ipc_lock_give(irq);
	return err;
}

/* ---- making, copying, closing handles ---- */

/* A new object of `size` bytes into a new handle with every right. */
static long create(size_t size, uint32_t type)
{
	int err;
	struct ipc_tcb *me = ipc_self(&err);
	if (!me)
		return err;
	struct ipc_obj *o = kmem_zalloc(size, KM_USER);
	if (!o)
		return -ENOMEM;
	unsigned long irq = ipc_lock_take();
	struct ipc_space *sp = me->proc->ipc;
	int slot = slot_free(sp);
	if (slot >= 0) {
		obj_init(o, type);
		if (type == IPC_OBJ_ENDPOINT) {
			struct endpoint *ep = (struct endpoint *)o;
			list_init(&ep->senders);
			list_init(&ep->receivers);
			stats.endpoints++;
		} else {
			list_init(&((struct notification *)o)->waiters);
			stats.notifications++;
		}
		slot_fill(sp, slot, o, IPC_R_ALL, 0);
		o = NULL;
	}
	ipc_lock_give(irq);
	if (o) {
		kmem_free(o);
		return -ENOSPC;
	}
	return slot;
}

void ipc_reap(void)
{
	unsigned long irq = ipc_lock_take();
	struct vm_obj *vo = reap_list;
	reap_list = NULL;
	ipc_lock_give(irq);
	while (vo) {
		struct vm_obj *next = vo->reap_next;
		vm_user_close(vo->vm);
		kmem_free(vo);
		vo = next;
	}
}

long ipc_vm_install(struct vm *vm)
{
	int err;
	struct ipc_tcb *me = ipc_self(&err);
	if (!me)
		return err;
	struct vm_obj *vo = kmem_zalloc(sizeof(*vo), KM_USER);
	if (!vo)
		return -ENOMEM;
	unsigned long irq = ipc_lock_take();
	struct ipc_space *sp = me->proc->ipc;
	int slot = slot_free(sp);
	if (slot >= 0) {
		obj_init(&vo->o, IPC_OBJ_VM);
		vo->vm = vm;
		slot_fill(sp, slot, &vo->o, IPC_R_ALL, 0);
	}
	ipc_lock_give(irq);
	if (slot < 0) {
		kmem_free(vo);
		return -ENOSPC;
	}
	return slot;
}

struct vm *ipc_vm_get(long h, int *err)
{
	struct ipc_tcb *me = ipc_self(err);
	if (!me)
		return NULL;
	unsigned long irq = ipc_lock_take();
	struct handle *hd = handle_get(me->proc->ipc, h, IPC_OBJ_VM, IPC_R_SEND, err);
	struct vm *vm = hd ? ((struct vm_obj *)hd->obj)->vm : NULL;
	if (vm)
		vm_hold(vm);
	ipc_lock_give(irq);
	return vm;
}

long sys_endpoint_create(void)
{
	return create(sizeof(struct endpoint), IPC_OBJ_ENDPOINT);
}

long sys_notify_create(void)
{
	return create(sizeof(struct notification), IPC_OBJ_NOTIFICATION);
}

long sys_handle_close(long h)
{
	int err;
	struct ipc_tcb *me = ipc_self(&err);
	if (!me)
		return err;
	unsigned long irq = ipc_lock_take();
	if (handle_get(me->proc->ipc, h, 0, 0, &err)) {
		slot_close(me->proc->ipc, (int)h);
		err = 0;
	}
	ipc_lock_give(irq);
	ipc_reap();			/* a VM whose last handle that was */
	return err;
}

/* A copy of h with `rights` (a subset of h's; h needs IPC_R_DUP) and, if
 * h has none, `badge` (0: none). A reply right is not copied: it is
 * one-shot. */
long sys_handle_dup(long h, long rights, long badge)
{
	int err;
	struct ipc_tcb *me = ipc_self(&err);
	if (!me)
		return err;
	if (((uint64_t)rights & ~(uint64_t)IPC_R_ALL) || ((uint64_t)badge & IPC_FROM_CALL))
		return -EINVAL;			/* bit 63 marks a call where badges arrive */
	unsigned long irq = ipc_lock_take();
	struct ipc_space *sp = me->proc->ipc;
	struct handle *hd = handle_get(sp, h, 0, IPC_R_DUP, &err);
	int slot = -1;
	if (hd && (hd->obj->type == IPC_OBJ_REPLY || ((uint32_t)rights & ~hd->rights)))
		err = -EPERM;
	else if (hd && hd->badge && badge && (uint64_t)badge != hd->badge)
		err = -EPERM;			/* a badge stays what it was */
	else if (hd && (slot = slot_free(sp)) < 0)
		err = -ENOSPC;
	else if (hd) {
		slot_fill(sp, slot, hd->obj, (uint32_t)rights, hd->badge ? hd->badge : (uint64_t)badge);
		err = slot;
	}
	ipc_lock_give(irq);
	return err;
}

long sys_handle_info(long h, long uinfo)
{
	int err;
	if (curthread->proc && !curthread->proc->ipc)
		return -EBADF;			/* no table: no handle (and none made to ask) */
	struct ipc_tcb *me = ipc_self(&err);
	if (!me)
		return err;
	struct ipc_handle_info info = { 0 };
	unsigned long irq = ipc_lock_take();
	struct handle *hd = handle_get(me->proc->ipc, h, 0, 0, &err);
	if (hd) {
		info = (struct ipc_handle_info){ hd->obj->type, hd->rights,
						 hd->obj->type == IPC_OBJ_REPLY ? 0 : hd->badge,
						 hd->obj->id, 0, 0, 0 };
		if (hd->obj->type == IPC_OBJ_ENDPOINT) {
			struct endpoint *ep = (struct endpoint *)hd->obj;
			info.senders = (unsigned)list_length(&ep->senders);
			info.receivers = (unsigned)list_length(&ep->receivers);
			info.flags = ep->recv_handles ? 0 : IPC_INFO_DEAD;
		} else if (hd->obj->type == IPC_OBJ_NOTIFICATION) {
			struct notification *n = (struct notification *)hd->obj;
			info.receivers = (unsigned)list_length(&n->waiters);
			info.flags = n->send_handles ? 0 : IPC_INFO_DEAD;
		}
		err = 0;
	}
	ipc_lock_give(irq);
	if (!err && copyout((uint64_t)uinfo, &info, sizeof(info)))
		err = -EFAULT;
	return err;
}

/* ---- notifications ---- */

/* Bit 63 is IPC_FROM_CALL's in a badge and would make the result of a
 * wait negative: signals carry bits 0..62. */
#define NOTIFY_BITS (~0UL >> 1)

/* bits into n; its oldest waiter, if any, takes them all. ipc_lock held. */
static void notify_bits(struct notification *n, uint64_t bits)
{
	n->bits |= bits;
	if (!list_empty(&n->waiters)) {
		struct ipc_tcb *w = list_entry(n->waiters.next, struct ipc_tcb, link);
		w->bits = n->bits;
		n->bits = 0;
		complete(w, 0);
	}
}

long sys_notify_signal(long h, long bits)
{
	int err;
	struct ipc_tcb *me = ipc_self(&err);
	if (!me)
		return err;
	if (!bits || ((uint64_t)bits & ~NOTIFY_BITS))
		return -EINVAL;
	unsigned long irq = ipc_lock_take();
	struct handle *hd = handle_get(me->proc->ipc, h, IPC_OBJ_NOTIFICATION, IPC_R_SEND, &err);
	if (hd) {
		notify_bits((struct notification *)hd->obj, (uint64_t)bits);
		err = 0;
	}
	ipc_lock_give(irq);
	return err;
}

/*
 * ---- device interrupts as notifications ----
 *
 * A driver in user space binds its device's interrupt to a notification:
 * from then on the interrupt signals the bits it chose there (from
 * interrupt context, under ipc_lock like any signal) and the kernel reads
 * nothing of the device; the driver waits on the notification and reads
 * the device through its ports. Only the console's UART (COM1, IRQ 4) can
 * be bound so far, and only by a process that holds all its ports. The
 * binding counts as one that may signal the notification, holds a
 * reference to it, and goes when its process does (ipc_proc_exit) or it
 * unbinds; then the kernel's own reader (the monitor) has the UART again.
 */
static struct {
	struct notification *n;		/* NULL: not bound */
	struct proc *owner;
	uint64_t bits;
} console_irq;

/* The UART's interrupt while bound (arch_console_irq_hook): interrupt
 * context, interrupts off. */
static void console_irq_fire(void)
{
	unsigned long irq = ipc_lock_take();
	if (console_irq.n) {
		stats.irqs++;
		notify_bits(console_irq.n, console_irq.bits);
	}
	ipc_lock_give(irq);
}

/* ipc_lock held; the caller gives the interrupt back (arch_console_irq_hook(NULL))
 * once it has dropped the lock. */
static void console_irq_unbind_locked(void)
{
	struct notification *n = console_irq.n;
	console_irq = (typeof(console_irq)){ 0 };
	if (--n->send_handles == 0)
		while (!list_empty(&n->waiters))
			complete(list_entry(n->waiters.next, struct ipc_tcb, link), -EPIPE);
	obj_unref(&n->o);
}

long sys_irq_bind(long h, long irq, long bits)
{
	int err;
	struct ipc_tcb *me = ipc_self(&err);
	if (!me)
		return err;
	if (irq != ARCH_CONSOLE_IRQ || (h != -1 && (!bits || ((uint64_t)bits & ~NOTIFY_BITS))))
		return -EINVAL;
	if (!proc_ports_held(me->proc, ARCH_CONSOLE_PORT, ARCH_CONSOLE_PORT + 7))
		return -EPERM;			/* the device is not this process's */
	unsigned long flags = ipc_lock_take();
	bool bound = false, unbound = false;
	if (h == -1) {
		err = console_irq.owner == me->proc ? 0 : -EINVAL;	/* not bound by it */
		if (!err) {
			console_irq_unbind_locked();
			unbound = true;
		}
	} else {
		struct handle *hd = handle_get(me->proc->ipc, h, IPC_OBJ_NOTIFICATION, IPC_R_SEND,
					       &err);
		if (hd && console_irq.n)
			err = -EBUSY;
		else if (hd) {
			struct notification *n = (struct notification *)hd->obj;
			obj_ref(&n->o);
			n->send_handles++;
			console_irq.n = n;
			console_irq.owner = me->proc;
			console_irq.bits = (uint64_t)bits;
			bound = true;
			err = 0;
		}
	}
	/* the hook follows the binding under the lock, so two threads binding
	 * and unbinding at once leave them agreeing */
	if (bound)
		arch_console_irq_hook(console_irq_fire);
	if (unbound)
		arch_console_irq_hook(NULL);
	ipc_lock_give(flags);
	if (unbound)
		monitor_resume();
	return err;
}

/* The bits signalled since the last wait, taken all at once (waiting for
 * some if there are none): > 0, or -errno. */
long sys_notify_wait(long hf, long timeout_ns)
{
	int err = (uint64_t)hf & ~IPC_HANDLE_MASK & ~IPC_NONBLOCK ? -EINVAL : 0;
	struct ipc_tcb *me = err ? NULL : ipc_self(&err);
	if (!me)
		return err;
	if (timeout_ns < 0)
		return -EINVAL;
	unsigned long irq = ipc_lock_take();
	struct handle *hd = handle_get(me->proc->ipc, handle_of(hf), IPC_OBJ_NOTIFICATION,
				       IPC_R_RECV, &err);
	long ret = err;
	if (hd) {
		struct notification *n = (struct notification *)hd->obj;
		if (n->bits) {
			ret = (long)n->bits;
			n->bits = 0;
		} else if (!n->send_handles) {
			ret = -EPIPE;			/* nobody can signal it */
		} else if (hf & IPC_NONBLOCK) {
			ret = -EAGAIN;
		} else {
			me->wait = W_NOTIFY;
			enqueue(me, &n->o, &n->waiters);
			ret = wait_for_partner(me, &irq, deadline_after((uint64_t)timeout_ns));
			if (!ret)
				ret = (long)me->bits;
		}
	}
	ipc_lock_give(irq);
	return ret;
}

/* ---- the rest of the kernel's ---- */

void ipc_kick(struct thread *t)
{
	unsigned long irq = ipc_lock_take();
	struct ipc_tcb *w = t->ipc;
	if (w && w->wait != W_NONE)
		sched_wakeup(t);		/* it sees its process dying */
	ipc_lock_give(irq);
}

void ipc_thread_exit(struct thread *t)
{
	struct ipc_tcb *me = t->ipc;
	if (!me)
		return;
	unsigned long irq = ipc_lock_take();
	if (me->reply_to) {
		reply_drop(me->reply_to, me->reply_gen);
		me->reply_to = NULL;
	}
	me->thread = NULL;
	t->ipc = NULL;
	obj_unref(&me->reply);		/* freed unless reply rights still name it */
	ipc_lock_give(irq);
}

void ipc_proc_exit(struct proc *p)
{
	unsigned long irq = ipc_lock_take();
	bool unbound = console_irq.owner == p;
	if (unbound) {
		console_irq_unbind_locked();
		arch_console_irq_hook(NULL);	/* the kernel's reader has it again */
	}
	ipc_lock_give(irq);
	if (unbound)
		monitor_resume();
	struct ipc_space *sp = p->ipc;
	if (!sp)
		return;
	irq = ipc_lock_take();
	for (int i = 0; i < IPC_HANDLES_MAX; i++)
		if (sp->h[i].obj)
			slot_close(sp, i);
	p->ipc = NULL;
	ipc_lock_give(irq);
	kmem_free(sp);
	ipc_reap();
}

int ipc_fork(struct proc *parent, struct proc *child)
{
	if (!parent->ipc)
		return 0;
	struct ipc_space *sp = kmem_zalloc(sizeof(*sp), KM_USER);
	if (!sp)
		return -ENOMEM;
	unsigned long irq = ipc_lock_take();
	for (int i = 0; i < IPC_HANDLES_MAX; i++) {
		struct handle *h = &parent->ipc->h[i];
		if (h->obj && h->obj->type != IPC_OBJ_REPLY)
			slot_fill(sp, i, h->obj, h->rights, h->badge);
	}
	child->ipc = sp;
	ipc_lock_give(irq);
	return 0;
}

int ipc_spawn_handles(struct proc *parent, struct proc *child, const int *h, int n)
{
	if (n < 0 || n > IPC_HANDLES_MAX || child->ipc)
		return -EINVAL;
	struct ipc_space *sp = kmem_zalloc(sizeof(*sp), KM_USER);
	if (!sp)
		return -ENOMEM;
	int err = 0;
	unsigned long irq = ipc_lock_take();
	for (int i = 0; i < n && !err; i++) {
		struct handle *hd = parent ? handle_get(parent->ipc, h[i], 0, 0, &err) : NULL;
		if (!parent)
			err = -EBADF;
		else if (hd && hd->obj->type == IPC_OBJ_REPLY)
			err = -EPERM;
		else if (hd)
			slot_fill(sp, i, hd->obj, hd->rights, hd->badge);
	}
	if (!err)
		child->ipc = sp;
	else
		for (int i = 0; i < IPC_HANDLES_MAX; i++)
			if (sp->h[i].obj)
				slot_close(sp, i);
	ipc_lock_give(irq);
	if (err)
		kmem_free(sp);
	return err;
}

void ipc_unmap_barrier(void)
{
	unsigned long irq = ipc_lock_take();
	ipc_lock_give(irq);
}

void ipc_get_stats(struct ipc_stats *s)
{
	unsigned long irq = ipc_lock_take();
	*s = (struct ipc_stats){ stats.endpoints, stats.notifications, stats.replies,
				 stats.handles, stats.messages, stats.bytes, stats.fast, stats.irqs };
	ipc_lock_give(irq);
}

long sys_ipc_stats(long ustats)
{
	struct ipc_stats s;
	ipc_get_stats(&s);
	return copyout((uint64_t)ustats, &s, sizeof(s)) ? -EFAULT : 0;
}

// SPDX-License-Identifier: GPL-2.0
/* folded.c - see folded.h. */
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include "folded.h"
#include "stackview.h"

struct sbuf {
	char *s;
	size_t len, cap;
};

/*
 * Append a frame; ';' separates frames and a newline ends a line: neither may be in a name,
 * nor a control character or a byte that is no UTF-8 (text_escape).
 */
static void sb_frame(struct sbuf *b, const char *name)
{
	size_t cap = strlen(name) * 4 + 1;
	char *s = text_escape(name, (size_t)-1, xcalloc(1, cap), cap);
	size_t n = strlen(s);

	grow((void **)&b->s, &b->cap, b->len + n + 2, 1);
	if (b->len)
		b->s[b->len++] = ';';
	for (size_t i = 0; i < n; i++)
		b->s[b->len + i] = s[i] == ';' ? ':' : s[i];
	b->len += n;
	b->s[b->len] = 0;
	free(s);
}

/*
 * The thread's name as the root frame (a Python thread's threading name), its tid where no
 * name was seen.
 */
static void sb_comm(struct sbuf *b, const struct analysis *a, const char *comm, __u32 tid)
{
	char c[TT_COMM_LEN + 16];
	const char *py = analysis_py_name(a, tid);

	if (py) {
		sb_frame(b, py);
		return;
	}
	memcpy(c, comm, TT_COMM_LEN);
	c[TT_COMM_LEN] = 0;
	if (!c[0])
		snprintf(c, sizeof(c), "tid %s", TID_STR(tid));
	sb_frame(b, c);
}

static void add_user_frames(struct sbuf *b, const struct analysis *a, __u32 stack, bool leaf_first,
			    bool native)
{
	const struct stack_entry *st;
	unsigned idx[STACKVIEW_MAX], nv;
	char buf[64];

	if (stack == TT_NO_STACK) {
		sb_frame(b, "[no stack]");
		return;
	}
	st = &a->stacks[stack];
	if (!st->nr_user)
		sb_frame(b, "[user stack unavailable]");
	/* a stack cut short has no known outermost frame: say so there */
	if (st->nr_user && (st->flags & TT_STACK_USER_TRUNC) && !leaf_first)
		sb_frame(b, "[truncated]");
	nv = stackview_user(a, st, native, idx, STACKVIEW_MAX);
	for (unsigned k = 0; k < nv; k++) {
		unsigned i = idx[leaf_first ? k : nv - 1 - k];
		const char *names[TT_MAX_INLINE], *funcs[TT_MAX_INLINE];
		unsigned n =
		    analysis_frames_at(a, st, i, names, funcs, TT_MAX_INLINE, buf, sizeof(buf));

		/* the function name alone merges frames of one function; else "module+0x.." */
		for (unsigned m = 0; m < n; m++) {
			unsigned x = leaf_first ? m : n - 1 - m;

			sb_frame(b, funcs[x] ? funcs[x] : names[x]);
		}
	}
	if (st->nr_user && (st->flags & TT_STACK_USER_TRUNC) && leaf_first)
		sb_frame(b, "[truncated]");
}

static int cmp_line(const void *x, const void *y)
{
	return strcmp(((const struct folded_line *)x)->stack,
		      ((const struct folded_line *)y)->stack);
}

void folded_build(struct folded *f, const struct analysis *a, bool counts, bool wakers, bool native)
{
	size_t j = 0;

	memset(f, 0, sizeof(*f));
	for (size_t li = 0; li < a->nr_locks; li++) {
		const struct lock_stat *l = &a->locks[li];
		char lock[200];

		lock_label(l, lock, sizeof(lock));
		for (size_t ci = 0; ci < l->nr_chains; ci++) {
			const struct chain *c = &l->chains[ci];
			struct sbuf b = {0};
			__u64 w = counts ? c->count : (c->wait_ns + 500) / 1000;
			struct folded_line *fl;

			if (!w)
				continue;
			sb_comm(&b, a, c->waiter_comm, c->waiter_tid);
			add_user_frames(&b, a, c->waiter_stack, false, native);
			sb_frame(&b, lock);
			if (wakers) {
				sb_frame(&b, "--");
				if (c->waker_tid) {
					add_user_frames(&b, a, c->waker_stack, true, native);
					sb_comm(&b, a, c->waker_comm, c->waker_tid);
				} else {
					char cause[64];

					snprintf(cause, sizeof(cause), "[%s]",
						 wake_cause_name(c->cause));
					sb_frame(&b, cause);
				}
			}
			fl = VEC_PUSH(f->lines, f->nr, f->cap);
			fl->stack = b.s;
			fl->weight = w;
			f->total += w;
		}
	}
	sort_array(f->lines, f->nr, sizeof(*f->lines), cmp_line);
	for (size_t i = 0; i < f->nr; i++) {
		if (j && !strcmp(f->lines[j - 1].stack, f->lines[i].stack)) {
			f->lines[j - 1].weight += f->lines[i].weight;
			free(f->lines[i].stack);
			continue;
		}
		f->lines[j++] = f->lines[i];
	}
	f->nr = j;
}

void folded_free(struct folded *f)
{
	for (size_t i = 0; i < f->nr; i++)
		free(f->lines[i].stack);
	free(f->lines);
	memset(f, 0, sizeof(*f));
}

int folded_write(FILE *out, const struct folded *f)
{
	for (size_t i = 0; i < f->nr; i++)
		fprintf(out, "%s %llu\n", f->lines[i].stack,
			(unsigned long long)f->lines[i].weight);
	return ferror(out) ? -EIO : 0;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * test_rtset.c - the runtime seam as the collector drives it (rtset.h), with a table of three
 * fake runtimes that log each call: A is in the target, B is not (its open says NULL), C is
 * and can be refused at admit. What is called, in which order, and what is never called.
 */
#include <errno.h>
#include <string.h>
#include "check.h"
#include "test_rtset.h"
#include "rtset.h"

static char calls[256];
static int c_admit = 0;	    /* what C's admit says */
static bool a_busy, c_busy; /* what busy says */
static bool c_left_stopped; /* what C's close says */

static void log_call(const char *what)
{
	strncat(calls, what, sizeof(calls) - strlen(calls) - 1);
	strncat(calls, " ", sizeof(calls) - strlen(calls) - 1);
}

static int rt_a, rt_c; /* their state: a pointer of each */

static void *open_a(const struct rt_host *h)
{
	log_call("open:A");
	return h ? &rt_a : NULL;
}
static void *open_b(const struct rt_host *h)
{
	log_call("open:B");
	return NULL;
}
static void *open_c(const struct rt_host *h)
{
	log_call("open:C");
	return &rt_c;
}
static int admit_a(void *rt)
{
	log_call(rt == &rt_a ? "admit:A" : "admit:A?");
	return 0;
}
static int admit_c(void *rt)
{
	log_call(rt == &rt_c ? "admit:C" : "admit:C?");
	return c_admit;
}
static void poll_a(void *rt, __u64 now, bool held)
{
	log_call(now == 7 && held ? "poll:A" : "poll:A?");
}
static void poll_b(void *rt, __u64 now, bool held)
{
	log_call("poll:B");
}
static void poll_c(void *rt, __u64 now, bool held)
{
	log_call(rt == &rt_c ? "poll:C" : "poll:C?");
}
static bool busy_a(void *rt)
{
	log_call("busy:A");
	return a_busy;
}
static bool busy_c(void *rt)
{
	log_call("busy:C");
	return c_busy;
}
static bool close_a(void *rt)
{
	log_call("close:A");
	return false;
}
static bool close_b(void *rt)
{
	log_call("close:B");
	return true;
}
static bool close_c(void *rt)
{
	log_call("close:C");
	return c_left_stopped;
}

static const struct rt_ops fake_a = {.name = "A",
				     .open = open_a,
				     .admit = admit_a,
				     .poll = poll_a,
				     .busy = busy_a,
				     .close = close_a};
static const struct rt_ops fake_b = {.name = "B", .open = open_b, .poll = poll_b, .close = close_b};
static const struct rt_ops fake_c = {.name = "C",
				     .open = open_c,
				     .admit = admit_c,
				     .poll = poll_c,
				     .busy = busy_c,
				     .close = close_c};
static const struct rt_ops *const fake_table[] = {&fake_a, &fake_b, &fake_c, NULL};

void test_runtime_seam(void)
{
	struct rt_host host = {0};
	struct rt_set s;
	bool yes;

	/* open: every row, then admit those found, in order */
	calls[0] = 0;
	CHECK(rt_set_open(&s, fake_table, &host) == 0);
	CHECK(!strcmp(calls, "open:A open:B open:C admit:A admit:C "));
	CHECK(s.rts[0] == &rt_a && s.rts[1] == NULL && s.rts[2] == &rt_c);

	/* a call reaches each runtime found that has the op, never one not found */
	calls[0] = 0;
	RT_SET_CALL(&s, poll, 7, true);
	CHECK(!strcmp(calls, "poll:A poll:C "));
	/* a runtime without the op is skipped: B has no busy, and is not there anyway */
	calls[0] = 0;
	a_busy = false;
	c_busy = true;
	yes = RT_SET_ANY(&s, busy);
	CHECK(yes && !strcmp(calls, "busy:A busy:C "));
	/* the first yes ends the question */
	calls[0] = 0;
	a_busy = true;
	yes = RT_SET_ANY(&s, busy);
	CHECK(yes && !strcmp(calls, "busy:A "));
	calls[0] = 0;
	a_busy = c_busy = false;
	CHECK(!RT_SET_ANY(&s, busy) && !strcmp(calls, "busy:A busy:C "));

	/* close: each one found, their "left it stopped" or'ed, the set emptied */
	calls[0] = 0;
	c_left_stopped = true;
	CHECK(rt_set_close(&s));
	CHECK(!strcmp(calls, "close:A close:C "));
	CHECK(!s.rts[0] && !s.rts[2]);
	calls[0] = 0;
	CHECK(!rt_set_close(&s) && !calls[0]); /* twice: nothing left to close */
	RT_SET_CALL(&s, poll, 7, true);
	CHECK(!calls[0]);

	/* refused at admit: the error is returned, and close still reaches every one opened */
	calls[0] = 0;
	c_admit = -EPERM;
	c_left_stopped = false;
	CHECK(rt_set_open(&s, fake_table, &host) == -EPERM);
	CHECK(!strcmp(calls, "open:A open:B open:C admit:A admit:C "));
	calls[0] = 0;
	CHECK(!rt_set_close(&s) && !strcmp(calls, "close:A close:C "));
	c_admit = 0;
}

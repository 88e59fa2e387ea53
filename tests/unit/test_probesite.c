// SPDX-License-Identifier: GPL-2.0
/*
 * test_probesite.c - where --holds probes a lock function: decoded sites and their
 * attach cookies.
 */
#include "check.h"
#include "probesite.h"
#include "test_probesite.h"

/* Probe sites: the first emulated instruction on the entry path that still has the object. */
void test_probe_sites(void)
{
	static const __u8 mutex_lock[] = {0x8b, 0x47, 0x10,	     /* mov 0x10(%rdi),%eax */
					  0x89, 0xc2,		     /* mov %eax,%edx */
					  0x83, 0xe0, 0x7c,	     /* and $0x7c,%eax */
					  0x0f, 0x85, 0x10, 0, 0, 0, /* jne +0x10 */
					  0xc3};
	static const __u8 copied[] = {0x48, 0x89, 0xfb,		 /* mov %rdi,%rbx */
				      0xbf, 0,	  0,	0,    0, /* mov $0,%edi */
				      0x48, 0x83, 0xec, 0x18,	 /* sub $0x18,%rsp */
				      0x55,			 /* push %rbp */
				      0xc3};
	static const __u8 loop_back[] = {0x8b, 0x47, 0x10, /* mov 0x10(%rdi),%eax */
					 0x90,		   /* nop: a branch target */
					 0xeb, 0xfd,	   /* jmp back to the nop */
					 0xc3};
	static const __u8 clobbered[] = {0x31, 0xff, /* xor %edi,%edi */
					 0xeb, 0x00, /* jmp */
					 0xc3};
	static const __u8 cond_wait[] = {0x41, 0x57, 0xc3}; /* push %r15 */
	struct probe_site s = {0};

	CHECK(probesite_decode(mutex_lock, sizeof(mutex_lock), 0x1000, 1, &s));
	CHECK_EQ_U64(s.site_off, 0x1000 + 8);
	CHECK(s.reg1 == TT_REG_RDI && s.ret_off == 0 && s.emulated);
	CHECK(probesite_decode(copied, sizeof(copied), 0, 1, &s));
	CHECK_EQ_U64(s.site_off, 12);
	CHECK(s.reg1 == TT_REG_RBX && s.ret_off == 0x18);
	CHECK(!probesite_decode(loop_back, sizeof(loop_back), 0, 1, &s));
	CHECK(s.site_off == 0 && s.reg1 == TT_REG_RDI && !s.emulated);
	CHECK(!probesite_decode(clobbered, sizeof(clobbered), 0, 1, &s));
	CHECK(s.site_off == 0 && !s.emulated);
	CHECK(probesite_decode(cond_wait, sizeof(cond_wait), 0, 2, &s));
	CHECK(s.site_off == 0 && s.reg1 == TT_REG_RDI && s.reg2 == TT_REG_RSI);
	s.op = TT_LOP_COND_WAIT; /* the caller's part of the site, not decoding's */
	CHECK_EQ_U64(probe_site_cookie(&s) & 0xff, TT_LOP_COND_WAIT);
}

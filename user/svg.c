// SPDX-License-Identifier: GPL-2.0
/*
 * svg.c - see svg.h. The folded lines become a tree; each node is a <g> with its share of the
 * total (data-x, data-w) and depth; a small script zooms, searches and shows details.
 */
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include "svg.h"

#define SVG_WIDTH 1200
#define FRAME_H	  16
#define PAD_X	  10
#define TOP	  40

struct node {
	char *name;
	__u64 value;
	struct node **kids;
	size_t nr_kids, cap_kids;
};

static struct node *child(struct node *n, const char *name, size_t len)
{
	struct node *c;

	/* lines arrive sorted, so a new child can only match the last one */
	if (n->nr_kids) {
		c = n->kids[n->nr_kids - 1];
		if (strlen(c->name) == len && !memcmp(c->name, name, len))
			return c;
	}
	c = xcalloc(1, sizeof(*c));
	c->name = xcalloc(1, len + 1);
	memcpy(c->name, name, len);
	*VEC_PUSH(n->kids, n->nr_kids, n->cap_kids) = c;
	return c;
}

static void free_tree(struct node *n)
{
	for (size_t i = 0; i < n->nr_kids; i++)
		free_tree(n->kids[i]);
	free(n->kids);
	free(n->name);
	free(n);
}

static unsigned depth_of(const struct node *n)
{
	unsigned d = 0;

	for (size_t i = 0; i < n->nr_kids; i++) {
		unsigned k = depth_of(n->kids[i]) + 1;

		if (k > d)
			d = k;
	}
	return d;
}

static void xml_text(FILE *out, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", out);
			break;
		case '<':
			fputs("&lt;", out);
			break;
		case '>':
			fputs("&gt;", out);
			break;
		case '"':
			fputs("&quot;", out);
			break;
		default:
			/* control bytes are not allowed in XML 1.0, nor bytes that are no UTF-8 */
			if ((unsigned char)*s >= 0x80) {
				size_t n = utf8_seq_len((const unsigned char *)s, strnlen(s, 4));

				if (n) {
					fwrite(s, 1, n, out);
					s += n - 1;
				} else {
					fprintf(out, "\\x%02x", (unsigned char)*s);
				}
			} else {
				fputc((unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s, out);
			}
		}
	}
}

/* Off-CPU palette: blues for waiters, reds for the lock, greens for the waker side. */
static void color(const char *name, bool waker, char *buf, size_t len)
{
	__u64 h = hash_bytes(name, strlen(name), 0);
	unsigned a = h % 60, b = (h >> 8) % 60;

	if (name[0] == '[')
		snprintf(buf, len, "rgb(%u,%u,%u)", 200 + a / 2, 60 + b, 60 + b);
	else if (!strcmp(name, "--"))
		snprintf(buf, len, "rgb(160,160,160)");
	else if (waker)
		snprintf(buf, len, "rgb(%u,%u,%u)", 60 + a, 170 + b, 60 + a);
	else
		snprintf(buf, len, "rgb(%u,%u,%u)", 40 + a, 100 + b, 200 + a / 2);
}

struct draw {
	FILE *out;
	__u64 total;
	unsigned height;
	const char *unit;
};

static void draw_node(struct draw *d, const struct node *n, __u64 x, unsigned depth, bool waker)
{
	double fx = (double)x / d->total, fw = (double)n->value / d->total;
	double px = PAD_X + fx * (SVG_WIDTH - 2 * PAD_X), pw = fw * (SVG_WIDTH - 2 * PAD_X);
	unsigned y = d->height - 30 - (depth + 1) * FRAME_H;
	size_t fit = pw > 6 ? (size_t)((pw - 6) / 7) : 0;
	char fill[32];
	__u64 cx = x;

	if (!strcmp(n->name, "--"))
		waker = true;
	color(n->name, waker, fill, sizeof(fill));
	fprintf(d->out, "<g class=\"f\" data-x=\"%.9f\" data-w=\"%.9f\" data-d=\"%u\"><title>", fx,
		fw, depth);
	xml_text(d->out, n->name);
	fprintf(d->out,
		" (%llu %s, %.2f%%)</title><rect x=\"%.1f\" y=\"%u\" width=\"%.1f\" "
		"height=\"%u\" fill=\"%s\" rx=\"2\" ry=\"2\"/><text x=\"%.1f\" y=\"%u\">",
		(unsigned long long)n->value, d->unit, 100 * fw, px, y, pw, FRAME_H - 1, fill,
		px + 3, y + 11);
	if (fit >= 3) {
		size_t len = strlen(n->name);

		if (len <= fit) {
			xml_text(d->out, n->name);
		} else {
			char *t = xstrdup(n->name);
			size_t cut = fit - 2;

			/* never inside a character: back up over its continuation bytes */
			while (cut && ((unsigned char)t[cut] & 0xc0) == 0x80)
				cut--;
			t[cut] = 0;
			xml_text(d->out, t);
			fputs("..", d->out);
			free(t);
		}
	}
	fputs("</text></g>\n", d->out);
	for (size_t i = 0; i < n->nr_kids; i++) {
		draw_node(d, n->kids[i], cx, depth + 1, waker);
		cx += n->kids[i]->value;
	}
}

static const char script[] =
    "var W="
    "1200"
    ",PAD=10,frames=[],zoomed=null,details,matched,unzoom;\n"
    "function init(evt){details=document.getElementById('details').firstChild;\n"
    " matched=document.getElementById('matched').firstChild;\n"
    " unzoom=document.getElementById('unzoom');\n"
    " var gs=document.getElementsByClassName('f');\n"
    " for(var i=0;i<gs.length;i++){var g=gs[i];frames.push({g:g,x:+g.getAttribute('data-x'),\n"
    "  w:+g.getAttribute('data-w'),d:+g.getAttribute('data-d'),\n"
    "  name:g.getElementsByTagName('title')[0].textContent});\n"
    "  g.onclick=(function(f){return function(){zoom(f)}})(frames[frames.length-1]);\n"
    "  g.onmouseover=(function(f){return "
    "function(){details.nodeValue=f.name}})(frames[frames.length-1]);\n"
    "  g.onmouseout=function(){details.nodeValue=' '};}\n"
    " unzoom.onclick=function(){zoom(null)};\n"
    " document.getElementById('search').onclick=search;}\n"
    "function place(f,x,w){var "
    "r=f.g.getElementsByTagName('rect')[0],t=f.g.getElementsByTagName('text')[0];\n"
    " var px=PAD+x*(W-2*PAD),pw=w*(W-2*PAD);r.setAttribute('x',px.toFixed(1));\n"
    " r.setAttribute('width',pw.toFixed(1));t.setAttribute('x',(px+3).toFixed(1));\n"
    " var label=f.name.replace(/ \\([^()]*\\)$/,''),fit=Math.floor((pw-6)/7);\n"
    " t.textContent=fit<3?'':label.length<=fit?label:label.substring(0,fit-2)+'..';}\n"
    "function zoom(z){zoomed=z;unzoom.setAttribute('class',z?'':'hide');\n"
    " for(var i=0;i<frames.length;i++){var f=frames[i];\n"
    "  if(!z){f.g.style.display='';f.g.setAttribute('class','f');place(f,f.x,f.w);continue;}\n"
    "  var inside=f.x>=z.x-1e-12&&f.x+f.w<=z.x+z.w+1e-12;\n"
    "  if(f.d<z.d&&f.x<=z.x+1e-12&&f.x+f.w>=z.x+z.w-1e-12){f.g.style.display='';\n"
    "   f.g.setAttribute('class','f parent');place(f,0,1);}\n"
    "  else if(f.d>=z.d&&inside){f.g.style.display='';f.g.setAttribute('class','f');\n"
    "   place(f,(f.x-z.x)/z.w,f.w/z.w);}\n"
    "  else f.g.style.display='none';}}\n"
    "function search(){var term=prompt('Search frames (regular expression)','');\n"
    " if(term===null)return;var re;try{re=new RegExp(term)}catch(e){alert(e);return}\n"
    " var spans=[];for(var i=0;i<frames.length;i++){var "
    "f=frames[i],r=f.g.getElementsByTagName('rect')[0];\n"
    "  "
    "if(term&&re.test(f.name)){if(!r.getAttribute('data-fill'))r.setAttribute('data-fill',r."
    "getAttribute('fill'));\n"
    "   r.setAttribute('fill','rgb(230,0,230)');spans.push([f.x,f.x+f.w]);}\n"
    "  else if(r.getAttribute('data-fill'))r.setAttribute('fill',r.getAttribute('data-fill'));}\n"
    " spans.sort(function(a,b){return a[0]-b[0]});var sum=0,end=-1;\n"
    " for(var j=0;j<spans.length;j++){var s=Math.max(spans[j][0],end);\n"
    "  if(spans[j][1]>s){sum+=spans[j][1]-s;end=spans[j][1];}}\n"
    " matched.nodeValue=term?'Matched: '+(100*sum).toFixed(1)+'%':' ';}\n";

int svg_write(FILE *out, const struct folded *f, const char *title, const char *unit)
{
	struct node *root = xcalloc(1, sizeof(*root));
	struct draw d = {.out = out, .unit = unit};
	unsigned depth;

	root->name = xstrdup("all");
	for (size_t i = 0; i < f->nr; i++) {
		const char *p = f->lines[i].stack;
		struct node *n = root;

		root->value += f->lines[i].weight;
		while (*p) {
			size_t len = strcspn(p, ";");

			n = child(n, p, len);
			n->value += f->lines[i].weight;
			p += len + (p[len] == ';');
		}
	}
	d.total = root->value ? root->value : 1;
	depth = depth_of(root);
	d.height = TOP + (depth + 1) * FRAME_H + 40;
	fprintf(out,
		"<?xml version=\"1.0\" standalone=\"no\"?>\n"
		"<svg version=\"1.1\" width=\"%u\" height=\"%u\" onload=\"init(evt)\" "
		"viewBox=\"0 0 %u %u\" xmlns=\"http://www.w3.org/2000/svg\">\n",
		SVG_WIDTH, d.height, SVG_WIDTH, d.height);
	fputs("<style>text{font-family:Verdana,sans-serif;font-size:12px;fill:#000}"
	      ".f{cursor:pointer}.f:hover rect{stroke:#000;stroke-width:0.5}.parent{opacity:0.5}"
	      ".hide{display:none}#title{font-size:17px;text-anchor:middle}"
	      "#unzoom,#search{cursor:pointer;fill:#2040a0}</style>\n<script><![CDATA[\n",
	      out);
	fputs(script, out);
	fputs("]]></script>\n", out);
	fprintf(out, "<rect x=\"0\" y=\"0\" width=\"%u\" height=\"%u\" fill=\"#f6f8fc\"/>\n",
		SVG_WIDTH, d.height);
	fprintf(out, "<text id=\"title\" x=\"%u\" y=\"24\">", SVG_WIDTH / 2);
	xml_text(out, title);
	fputs("</text>\n<text id=\"unzoom\" class=\"hide\" x=\"10\" y=\"24\">Reset zoom</text>\n",
	      out);
	fprintf(out, "<text id=\"search\" x=\"%u\" y=\"24\">Search</text>\n", SVG_WIDTH - 70);
	fprintf(out, "<text id=\"details\" x=\"10\" y=\"%u\"> </text>\n", d.height - 10);
	fprintf(out, "<text id=\"matched\" x=\"%u\" y=\"%u\"> </text>\n", SVG_WIDTH - 160,
		d.height - 10);
	fputs("<g id=\"frames\">\n", out);
	if (root->value) {
		draw_node(&d, root, 0, 0, false);
	} else {
		fprintf(out, "<text x=\"%u\" y=\"%u\">no waits were traced</text>\n",
			SVG_WIDTH / 2 - 60, d.height / 2);
	}
	fputs("</g>\n</svg>\n", out);
	free_tree(root);
	return ferror(out) ? -EIO : 0;
}

/* secretfile.c - collect and merge `export NAME=value` secrets files.
 *
 * Secrets files are sourced by sh, so a line taken from an archive is never
 * copied as it is: each line is parsed strictly (parse_line), its value
 * decoded, and the toolkit writes its own `export NAME='value'` line. */
#include "state/secretfile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/internal.h"

#define NAME_MAX_LEN 255

/* Bytes a value may hold unquoted: none of them means anything to sh (no
 * blanks, quotes, `$`, backtick, backslash, `;&|<>()`, globs, `~`, `#`, `{}`, `!`). */
static const char bare_ok[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./:@%+,=-";

static int is_name_start(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int is_name_char(char c)
{
	return is_name_start(c) || (c >= '0' && c <= '9');
}

size_t hero_secret_line_name(const char *line, const char **start)
{
	while (*line == ' ' || *line == '\t')
		line++;
	if (!strncmp(line, "export ", 7))
		line += 7;
	while (*line == ' ')
		line++;
	*start = line;
	size_t n = strspn(line, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");
	return line[n] == '=' ? n : 0;
}

static int has(const struct hero_strlist *l, const char *s, size_t n)
{
	for (size_t i = 0; l && i < l->n; i++)
		if (strlen(l->v[i]) == n && !strncmp(l->v[i], s, n))
			return 1;
	return 0;
}

static int push_name(struct hero_strlist *l, const char *s, size_t n)
{
	char buf[NAME_MAX_LEN + 1];
	if (n > NAME_MAX_LEN || has(l, s, n))
		return 0;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return hero_strlist_push(l, buf);
}

/* One line of a secrets file, parsed strictly. */
struct sline {
	const char *name; /* in the text; NULL before the name is read */
	size_t nlen;
	char *val; /* decoded, malloc'd (wipe it); NULL unless an assignment */
	size_t vlen;
	const char *why; /* why the line is refused */
};

static void sline_wipe(struct sline *l)
{
	if (l->val) {
		sodium_memzero(l->val, l->vlen);
		free(l->val);
	}
	l->val = NULL;
	l->vlen = 0;
}

static int refuse(struct sline *l, const char *why)
{
	sline_wipe(l);
	l->why = why;
	return -1;
}

/* The LEN bytes at P (one line, no newline): 0 for a blank line or a comment,
 * 1 for `[export ]NAME=VALUE` (L->name and the decoded L->val set), -1 when
 * refused (L->why set; L->name too once `NAME=` was read), -2 when out of
 * memory. VALUE is a concatenation of bare runs of bare_ok bytes, '...'
 * (no ' inside), "..." (no $, backtick or backslash inside) and \' ; after it
 * only blanks and a comment. The decoded value holds no control byte. */
static int parse_line(const char *p, size_t len, struct sline *l)
{
	size_t i = 0;
	memset(l, 0, sizeof *l);
	while (i < len && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (i == len || p[i] == '#')
		return 0;
	if (len - i > 6 && !memcmp(p + i, "export", 6) && (p[i + 6] == ' ' || p[i + 6] == '\t')) {
		i += 6;
		while (i < len && (p[i] == ' ' || p[i] == '\t'))
			i++;
	}
	if (i == len || !is_name_start(p[i]))
		return refuse(l, "not an assignment `export NAME=VALUE`");
	const char *name = p + i;
	while (i < len && is_name_char(p[i]))
		i++;
	if (i == len || p[i] != '=') /* the first word is no name: never shown */
		return refuse(l, "not an assignment `export NAME=VALUE`");
	l->name = name;
	l->nlen = (size_t)(p + i - name);
	if (l->nlen > NAME_MAX_LEN)
		return refuse(l, "a name longer than 255 bytes");
	i++;
	if (!(l->val = malloc(len - i + 1)))
		return -2;
	while (i < len && p[i] != ' ' && p[i] != '\t') {
		char c = p[i];
		if (c == '\'') {
			const char *q = memchr(p + i + 1, '\'', len - i - 1);
			if (!q)
				return refuse(l, "a quote left open");
			size_t n = (size_t)(q - (p + i + 1));
			memcpy(l->val + l->vlen, p + i + 1, n);
			l->vlen += n;
			i += n + 2;
		} else if (c == '"') {
			size_t j = i + 1;
			while (j < len && p[j] != '"' && p[j] != '$' && p[j] != '`' && p[j] != '\\')
				j++;
			if (j == len)
				return refuse(l, "a quote left open");
			if (p[j] != '"')
				return refuse(l, "a '$', backtick or backslash inside double quotes");
			memcpy(l->val + l->vlen, p + i + 1, j - i - 1);
			l->vlen += j - i - 1;
			i = j + 1;
		} else if (c == '\\') {
			if (i + 1 == len || p[i + 1] != '\'')
				return refuse(l, "a backslash other than in '\\''");
			l->val[l->vlen++] = '\'';
			i += 2;
		} else if (c == '$') {
			return refuse(l, "an unquoted '$' (expansion or command substitution)");
		} else if (c == '`') {
			return refuse(l, "a backtick (command substitution)");
		} else if (c == ';' || c == '&' || c == '|' || c == '<' || c == '>' || c == '(' || c == ')') {
			return refuse(l, "a second command on the line");
		} else if (c && strchr(bare_ok, c)) {
			l->val[l->vlen++] = c;
			i++;
		} else {
			return refuse(l, "an unquoted byte that needs quoting");
		}
	}
	while (i < len && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (i < len && p[i] != '#')
		return refuse(l, "more than one word after the name (a second assignment or command)");
	for (size_t k = 0; k < l->vlen; k++) {
		unsigned char b = (unsigned char)l->val[k];
		if (b < 0x20 || b == 0x7f)
			return refuse(l, "a control character (NUL, newline, carriage return...) in the value");
	}
	l->val[l->vlen] = '\0';
	return 1;
}

/* The line at P (up to a newline or the end): its length; *NEXT after it. */
static size_t line_at(const char *p, const char **next)
{
	const char *nl = strchr(p, '\n');
	size_t len = nl ? (size_t)(nl - p) : strlen(p);
	*next = p + len + (nl ? 1 : 0);
	return len;
}

/* `export NAME='VALUE'\n` at OUT (room for 12 + NLEN + 4 * VLEN bytes): the
 * only form the toolkit writes; a ' in VALUE becomes '\''. Returns its length. */
static size_t write_line(char *out, const char *name, size_t nlen, const char *val, size_t vlen)
{
	size_t o = 0;
	memcpy(out, "export ", 7);
	o += 7;
	memcpy(out + o, name, nlen);
	o += nlen;
	out[o++] = '=';
	out[o++] = '\'';
	for (size_t k = 0; k < vlen; k++) {
		if (val[k] == '\'') {
			memcpy(out + o, "'\\''", 4);
			o += 4;
		} else {
			out[o++] = val[k];
		}
	}
	out[o++] = '\'';
	out[o++] = '\n';
	return o;
}

/* The lines of TEXT, except those whose name (hero_secret_line_name) is in NAMES. */
char *hero_secrets_drop(const char *text, const struct hero_strlist *names)
{
	char *out = malloc(strlen(text) + 2);
	size_t off = 0;
	if (!out)
		return NULL;
	for (const char *p = text, *next; *p; p = next) {
		size_t len = line_at(p, &next);
		const char *start;
		size_t n = hero_secret_line_name(p, &start);
		if (n && start + n <= p + len && has(names, start, n))
			continue;
		memcpy(out + off, p, len);
		off += len;
		out[off++] = '\n';
	}
	out[off] = '\0';
	return out;
}

/* The well-formed assignments of NEEDED names in TEXT, rewritten by write_line,
 * one per name in the order first seen, with the value sh would end with: the
 * last assignment's. A name whose last assignment is refused by parse_line is
 * left out (its value is not known). Names kept are appended to NAMES. */
static char *collect_text(const char *text, const struct hero_strlist *needed, struct hero_strlist *names)
{
	size_t nl = 1, n = 0, off = 0;
	for (const char *p = text; *p; p++)
		nl += *p == '\n';
	struct sline *v = calloc(nl, sizeof *v);
	char *out = NULL;
	if (!v)
		return NULL;
	for (const char *p = text, *next; *p; p = next) {
		size_t len = line_at(p, &next);
		struct sline l;
		int r = parse_line(p, len, &l);
		if (r == -2)
			goto out;
		const char *start = NULL;
		size_t k, sn = r == 1 ? l.nlen : hero_secret_line_name(p, &start);
		if (r != 1)
			l.name = start;
		if (r == 0 || !sn || (r < 0 && start + sn > p + len) || !has(needed, l.name, sn)) {
			sline_wipe(&l);
			continue;
		}
		l.nlen = sn;
		for (k = 0; k < n && !(v[k].nlen == sn && !memcmp(v[k].name, l.name, sn)); k++)
			;
		if (k == n)
			n++;
		sline_wipe(&v[k]);
		v[k] = l; /* a refused line leaves val NULL: the name is then left out */
	}
	size_t cap = 1;
	for (size_t k = 0; k < n; k++)
		cap += v[k].val ? 12 + v[k].nlen + 4 * v[k].vlen : 0;
	if (!(out = malloc(cap)))
		goto out;
	for (size_t k = 0; k < n; k++) {
		if (!v[k].val)
			continue;
		off += write_line(out + off, v[k].name, v[k].nlen, v[k].val, v[k].vlen);
		if (names && push_name(names, v[k].name, v[k].nlen) < 0) {
			sodium_memzero(out, off);
			free(out);
			out = NULL;
			goto out;
		}
	}
	out[off] = '\0';
out:
	for (size_t k = 0; k < n; k++)
		sline_wipe(&v[k]);
	free(v);
	return out;
}

int hero_secrets_collect(const struct hero_inventory *inv, const char *root, const struct hero_strlist *needed,
			 struct hero_secret_set *out, struct hero_error *err)
{
	memset(out, 0, sizeof *out);
	for (size_t i = 0; i < inv->n; i++) {
		const struct hero_service *s = &inv->services[i];
		for (size_t j = 0; j < s->n_state; j++) {
			const struct hero_state *st = &s->state[j];
			if (st->type != HERO_STATE_SECRETS || hero_state_per_context(st))
				continue;
			char *full = hero_join(root, st->path);
			char *text = full ? hero_read_text(full) : NULL;
			free(full);
			if (!text)
				continue; /* no such file here: nothing to carry */
			char *kept = collect_text(text, needed, &out->names);
			sodium_memzero(text, strlen(text));
			free(text);
			struct hero_secret_file *v = realloc(out->f, (out->n + 1) * sizeof *v);
			if (!kept || !v) {
				free(kept);
				if (v)
					out->f = v;
				return hero_error(err, HERO_EFAIL, "out of memory");
			}
			out->f = v;
			v[out->n].path = strdup(st->path);
			v[out->n].service = s->name;
			v[out->n].text = kept;
			v[out->n].len = strlen(kept);
			out->n++;
			if (!v[out->n - 1].path)
				return hero_error(err, HERO_EFAIL, "out of memory");
		}
	}
	return 0;
}

void hero_secrets_release(struct hero_secret_set *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->f[i].path);
		if (s->f[i].text)
			sodium_memzero(s->f[i].text, s->f[i].len);
		free(s->f[i].text);
	}
	free(s->f);
	hero_strlist_release(&s->names);
	memset(s, 0, sizeof *s);
}

/* Every NAME the target's file TEXT may assign, in any form: an identifier
 * followed by `=` or `+=` at the start of a word (after a blank or one of
 * ;&|(`{), anywhere outside a comment line. More names than sh would assign
 * only means fewer are added: the target's own values always win. */
static int target_names(const char *text, struct hero_strlist *out)
{
	for (const char *p = text, *next; *p; p = next) {
		size_t len = line_at(p, &next);
		size_t i = 0;
		while (i < len && (p[i] == ' ' || p[i] == '\t'))
			i++;
		if (i < len && p[i] == '#')
			continue;
		for (; i < len; i++) {
			if (!is_name_start(p[i]) || (i && !strchr(" \t;&|(`{", p[i - 1])))
				continue;
			size_t s = i;
			while (i < len && is_name_char(p[i]))
				i++;
			int assigns = i < len && (p[i] == '=' || (p[i] == '+' && i + 1 < len && p[i + 1] == '='));
			if (assigns && push_name(out, p + s, i - s) < 0)
				return -1;
			i--; /* the loop's i++ looks at the byte after the word */
		}
	}
	return 0;
}

int hero_secrets_merge(const char *target, const char *archive, const struct hero_strlist *allowed, char **out,
		       struct hero_strlist *added, struct hero_error *err)
{
	struct hero_strlist present = { 0 }, seen = { 0 };
	size_t tl = target ? strlen(target) : 0, al = strlen(archive), off = 0, lineno = 0;
	int ret = 0;
	*out = NULL;
	if (al > ((size_t)-1 - tl) / 32)
		return hero_error(err, HERO_EINTEGRITY, "archive's secrets file too large");
	/* room for the target and one written line per archive line, each at most
	 * 12 + 4 * (its length) bytes: never grown, so no copy is left unwiped */
	size_t cap = tl + 2 + 16 * (al + 1);
	char *res = malloc(cap);
	if (!res || (target && target_names(target, &present) < 0)) {
		ret = hero_error(err, HERO_EFAIL, "out of memory");
		goto out;
	}
	memcpy(res, target ? target : "", tl);
	off = tl;
	if (tl && target[tl - 1] != '\n')
		res[off++] = '\n';
	for (const char *p = archive, *next; *p && ret == 0; p = next) {
		size_t len = line_at(p, &next);
		struct sline l;
		lineno++;
		int r = parse_line(p, len, &l);
		if (r == -2)
			ret = hero_error(err, HERO_EFAIL, "out of memory");
		else if (r < 0 && l.name)
			ret = hero_error(err, HERO_EINTEGRITY, "line %zu (%.*s): %s", lineno, (int)(l.nlen > 64 ? 64 : l.nlen),
					 l.name, l.why);
		else if (r < 0)
			ret = hero_error(err, HERO_EINTEGRITY, "line %zu: %s", lineno, l.why);
		else if (r == 0)
			continue;
		else if (has(&seen, l.name, l.nlen))
			ret = hero_error(err, HERO_EINTEGRITY, "line %zu (%.*s): the archive assigns the name twice", lineno,
					 (int)l.nlen, l.name);
		else if (!has(allowed, l.name, l.nlen))
			ret = hero_error(err, HERO_EINTEGRITY,
					 "line %zu: archive carries secret '%.*s' that the target's manifests do not declare",
					 lineno, (int)l.nlen, l.name);
		else if (push_name(&seen, l.name, l.nlen) < 0)
			ret = hero_error(err, HERO_EFAIL, "out of memory");
		else if (!has(&present, l.name, l.nlen)) {
			off += write_line(res + off, l.name, l.nlen, l.val, l.vlen);
			if (push_name(added, l.name, l.nlen) < 0)
				ret = hero_error(err, HERO_EFAIL, "out of memory");
		}
		sline_wipe(&l);
	}
	res[off] = '\0';
out:
	hero_strlist_release(&present);
	hero_strlist_release(&seen);
	if (ret < 0 && res) {
		sodium_memzero(res, off);
		free(res);
		res = NULL;
	}
	*out = res;
	return ret;
}

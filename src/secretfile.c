/* secretfile.c - collect and merge `export NAME=value` secrets files. */
#include "secretfile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "internal.h"

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
	char buf[256];
	if (n >= sizeof buf || has(l, s, n))
		return 0;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return hero_strlist_push(l, buf);
}

/* Lines of TEXT (NUL-terminated) whose name passes KEEP(ctx, name, len), in order. */
static char *filter(const char *text, int (*keep)(void *, const char *, size_t), void *ctx,
		    struct hero_strlist *names)
{
	size_t cap = strlen(text) + 2, off = 0;
	char *out = malloc(cap);
	if (!out)
		return NULL;
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char line[4096];
		snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line ? len : sizeof line - 1), p);
		const char *start;
		size_t n = hero_secret_line_name(line, &start);
		int kept = n && keep(ctx, start, n);
		sodium_memzero(line + n + (size_t)(start - line), sizeof line - n - (size_t)(start - line));
		if (kept) {
			memcpy(out + off, p, len);
			off += len;
			out[off++] = '\n';
			if (names && push_name(names, start, n) < 0) {
				free(out);
				return NULL;
			}
		}
		p += len + (nl ? 1 : 0);
	}
	out[off] = '\0';
	return out;
}

static int keep_needed(void *ctx, const char *name, size_t n)
{
	return has(ctx, name, n);
}

char *hero_secrets_keep(const char *text, const struct hero_strlist *names)
{
	return filter(text, keep_needed, (void *)names, NULL);
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
			char *kept = filter(text, keep_needed, (void *)needed, &out->names);
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

struct absent {
	const struct hero_strlist *present;
};

static int keep_absent(void *ctx, const char *name, size_t n)
{
	struct absent *a = ctx;
	return !has(a->present, name, n);
}

static int keep_all(void *ctx, const char *name, size_t n)
{
	(void)ctx;
	(void)name;
	(void)n;
	return 1;
}

int hero_secrets_merge(const char *target, const char *archive, char **out, struct hero_strlist *added,
		       struct hero_error *err)
{
	struct hero_strlist present = { 0 };
	char *mine = target ? filter(target, keep_all, NULL, &present) : NULL;
	free(mine);
	struct absent a = { &present };
	char *extra = filter(archive, keep_absent, &a, added);
	hero_strlist_release(&present);
	if (!extra)
		return hero_error(err, HERO_EFAIL, "out of memory");
	size_t tl = target ? strlen(target) : 0, el = strlen(extra);
	char *res = malloc(tl + el + 2);
	if (!res) {
		free(extra);
		return hero_error(err, HERO_EFAIL, "out of memory");
	}
	memcpy(res, target ? target : "", tl);
	if (tl && target[tl - 1] != '\n' && el)
		res[tl++] = '\n';
	memcpy(res + tl, extra, el + 1);
	sodium_memzero(extra, el);
	free(extra);
	*out = res;
	return 0;
}

/* svcyaml.c - YAML <-> JSON, ${VAR} expansion and the canonical service form. */
#include "supervise/svcyaml.h"

#include "base/internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#define YAML_MAX_FILE (4u << 20)
#define YAML_MAX_DEPTH 64

/* ---- variables ---------------------------------------------------------- */

static const char *list_get(const char *const *list, const char *name)
{
	size_t n = strlen(name);
	const char *hit = NULL;
	for (const char *const *s = list; s && *s; s++)
		if (strncmp(*s, name, n) == 0 && (*s)[n] == '=')
			hit = *s + n + 1;
	return hit;
}

const char *hero_vars_get(const struct hero_vars *vars, const char *name)
{
	if (!vars)
		return NULL;
	const char *hit = list_get(vars->set, name);
	if (!hit && vars->use_env)
		hit = getenv(name);
	if (!hit)
		hit = list_get(vars->fallback, name);
	return hit;
}

struct sbuf {
	char *p;
	size_t len, cap;
};

static int sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *q = realloc(b->p, cap);
		if (!q)
			return -1;
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

/* Expand one ${...} whose body (without braces) is BODY/LEN. */
static int expand_one(struct sbuf *b, const char *body, size_t len, const struct hero_vars *vars,
		      struct hero_error *err)
{
	char name[128];
	const char *dflt = NULL;
	size_t nlen = len, dlen = 0;
	const char *sep = memchr(body, ':', len);
	if (sep && sep + 1 < body + len && sep[1] == '-') {
		nlen = (size_t)(sep - body);
		dflt = sep + 2;
		dlen = len - nlen - 2;
	}
	if (nlen == 0 || nlen >= sizeof name)
		return hero_error(err, HERO_EUSAGE, "bad variable reference '${%.*s}'", (int)len, body);
	memcpy(name, body, nlen);
	name[nlen] = '\0';
	for (size_t i = 0; i < nlen; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '_')
			return hero_error(err, HERO_EUSAGE, "bad variable name '%s'", name);
	const char *v = hero_vars_get(vars, name);
	if (v && (*v || !dflt))
		return sb_add(b, v, strlen(v)) ? hero_error(err, HERO_EFAIL, "out of memory") : 0;
	if (!dflt)
		return hero_error(err, HERO_EUSAGE, "undefined variable '%s'", name);
	/* the default may itself hold ${...} */
	char *sub = strndup(dflt, dlen), *exp = NULL;
	if (!sub)
		return hero_error(err, HERO_EFAIL, "out of memory");
	int rc = hero_expand(sub, vars, &exp, err);
	free(sub);
	if (rc == 0 && sb_add(b, exp, strlen(exp)))
		rc = hero_error(err, HERO_EFAIL, "out of memory");
	free(exp);
	return rc;
}

int hero_expand(const char *in, const struct hero_vars *vars, char **out, struct hero_error *err)
{
	struct sbuf b = { 0 };
	int rc = -HERO_EFAIL;
	if (sb_add(&b, "", 0))
		goto oom;
	for (const char *p = in; *p;) {
		if (p[0] == '$' && p[1] == '$' && p[2] == '{') {
			if (sb_add(&b, "${", 2))
				goto oom;
			p += 3;
			continue;
		}
		if (p[0] == '$' && p[1] == '{') {
			/* find the matching brace, allowing one level of nesting in defaults */
			int depth = 1;
			const char *q = p + 2;
			for (; *q && depth; q++)
				depth += (*q == '{') - (*q == '}');
			if (depth) {
				rc = hero_error(err, HERO_EUSAGE, "unterminated '${' in '%s'", in);
				goto out;
			}
			if ((rc = expand_one(&b, p + 2, (size_t)(q - 1 - (p + 2)), vars, err)) < 0)
				goto out;
			p = q;
			continue;
		}
		const char *q = p + 1;
		while (*q && *q != '$')
			q++;
		if (sb_add(&b, p, (size_t)(q - p)))
			goto oom;
		p = q;
	}
	*out = b.p;
	b.p = NULL;
	rc = 0;
	goto out;
oom:
	rc = hero_error(err, HERO_EFAIL, "out of memory");
out:
	free(b.p);
	return rc;
}

/* ---- YAML -> JSON ------------------------------------------------------- */

static int all_digits(const char *s, int base)
{
	if (!*s)
		return 0;
	for (; *s; s++) {
		int ok = base == 16 ? isxdigit((unsigned char)*s)
				    : (*s >= '0' && *s < '0' + base);
		if (!ok)
			return 0;
	}
	return 1;
}

static int looks_real(const char *s)
{
	const char *p = s;
	int digits = 0;
	if (*p == '-' || *p == '+')
		p++;
	while (isdigit((unsigned char)*p))
		p++, digits++;
	if (*p == '.') {
		p++;
		while (isdigit((unsigned char)*p))
			p++, digits++;
	}
	if (!digits)
		return 0;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '-' || *p == '+')
			p++;
		if (!isdigit((unsigned char)*p))
			return 0;
		while (isdigit((unsigned char)*p))
			p++;
	}
	return *p == '\0';
}

/* Resolve a plain scalar S by the YAML 1.2 core schema; NULL means "a string". */
static json_t *resolve_plain(const char *s)
{
	if (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL"))
		return json_null();
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
		return json_true();
	if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
		return json_false();
	const char *d = s + (*s == '-' || *s == '+');
	int base = 0;
	if (all_digits(d, 10))
		base = 10;
	else if (!strncmp(s, "0x", 2) && all_digits(s + 2, 16))
		base = 16;
	else if (!strncmp(s, "0o", 2) && all_digits(s + 2, 8))
		base = 8;
	if (base) {
		errno = 0;
		long long v = strtoll(base == 10 ? s : s + 2, NULL, base);
		if (errno == 0)
			return json_integer(v);
		return NULL;
	}
	if (looks_real(s))
		return json_real(strtod(s, NULL));
	return NULL;
}

struct ycv {
	yaml_document_t *doc;
	const struct hero_vars *vars;
	struct hero_error *err;
};

static json_t *node_to_json(struct ycv *c, yaml_node_t *n, int depth);

static json_t *scalar_to_json(struct ycv *c, yaml_node_t *n)
{
	const char *raw = (const char *)n->data.scalar.value;
	const char *tag = (const char *)n->tag;
	int plain = n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
		    (!tag || !strcmp(tag, YAML_DEFAULT_SCALAR_TAG));
	if (plain) {
		json_t *v = resolve_plain(raw);
		if (v)
			return v;
	}
	if (!c->vars)
		return json_stringn(raw, n->data.scalar.length);
	char *exp = NULL;
	if (hero_expand(raw, c->vars, &exp, c->err) < 0) {
		hero_error_prefix(c->err, "line %lu", (unsigned long)n->start_mark.line + 1);
		return NULL;
	}
	json_t *v = json_string(exp);
	free(exp);
	return v;
}

static json_t *mapping_to_json(struct ycv *c, yaml_node_t *n, int depth)
{
	json_t *obj = json_object();
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; obj && p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
		if (!k || k->type != YAML_SCALAR_NODE || !v) {
			hero_error(c->err, HERO_EUSAGE, "line %lu: mapping keys must be plain values",
				   (unsigned long)(k ? k->start_mark.line + 1 : 0));
			goto fail;
		}
		const char *key = (const char *)k->data.scalar.value;
		if (json_object_get(obj, key)) {
			hero_error(c->err, HERO_EUSAGE, "line %lu: duplicate key '%s'",
				   (unsigned long)k->start_mark.line + 1, key);
			goto fail;
		}
		json_t *jv = node_to_json(c, v, depth + 1);
		if (!jv || json_object_set_new(obj, key, jv))
			goto fail;
	}
	return obj;
fail:
	json_decref(obj);
	return NULL;
}

static json_t *node_to_json(struct ycv *c, yaml_node_t *n, int depth)
{
	if (depth > YAML_MAX_DEPTH) {
		hero_error(c->err, HERO_EUSAGE, "document nested too deeply");
		return NULL;
	}
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return scalar_to_json(c, n);
	case YAML_SEQUENCE_NODE: {
		json_t *arr = json_array();
		for (yaml_node_item_t *i = n->data.sequence.items.start; arr && i < n->data.sequence.items.top; i++) {
			yaml_node_t *item = yaml_document_get_node(c->doc, *i);
			json_t *jv = item ? node_to_json(c, item, depth + 1) : NULL;
			if (!jv || json_array_append_new(arr, jv)) {
				json_decref(arr);
				return NULL;
			}
		}
		return arr;
	}
	case YAML_MAPPING_NODE:
		return mapping_to_json(c, n, depth);
	default:
		hero_error(c->err, HERO_EUSAGE, "empty YAML node");
		return NULL;
	}
}

int hero_yaml_parse(const char *buf, size_t len, const struct hero_vars *vars, json_t **out,
		    struct hero_error *err)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	int rc = -HERO_EUSAGE;
	if (!yaml_parser_initialize(&parser))
		return hero_error(err, HERO_EFAIL, "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		rc = hero_error(err, HERO_EUSAGE, "line %lu: %s", (unsigned long)parser.problem_mark.line + 1,
				parser.problem ? parser.problem : "invalid YAML");
		yaml_parser_delete(&parser);
		return rc;
	}
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	struct hero_error local = HERO_ERROR_INIT;
	struct ycv c = { &doc, vars, err ? err : &local };
	json_t *v = root ? node_to_json(&c, root, 0) : json_null();
	if (v) {
		*out = v;
		rc = 0;
	} else {
		rc = c.err->code ? -c.err->code : hero_error(err, HERO_EFAIL, "out of memory");
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return rc;
}

int hero_yaml_load(const char *path, const struct hero_vars *vars, json_t **out, struct hero_error *err)
{
	int rc = -HERO_EFAIL;
	char *buf = NULL;
	FILE *f = fopen(path, "re");
	if (!f)
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot open '%s'", path);
	buf = malloc(YAML_MAX_FILE + 1);
	if (!buf) {
		rc = hero_error(err, HERO_EFAIL, "out of memory");
		goto out;
	}
	size_t n = fread(buf, 1, YAML_MAX_FILE + 1, f);
	if (ferror(f)) {
		rc = hero_error_errno(err, HERO_EFAIL, errno, "cannot read '%s'", path);
		goto out;
	}
	if (n > YAML_MAX_FILE) {
		rc = hero_error(err, HERO_EUSAGE, "'%s' is larger than 4 MiB", path);
		goto out;
	}
	if ((rc = hero_yaml_parse(buf, n, vars, out, err)) < 0)
		hero_error_prefix(err, "%s", path);
out:
	free(buf);
	fclose(f);
	return rc;
}

/* ---- JSON -> YAML ------------------------------------------------------- */

static int buf_writer(void *data, unsigned char *s, size_t n)
{
	return sb_add(data, (const char *)s, n) == 0;
}

static int emit_scalar(yaml_emitter_t *em, const char *s, int quote)
{
	yaml_event_t ev;
	yaml_scalar_style_t style = quote ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE;
	if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1, 1, style))
		return -1;
	return yaml_emitter_emit(em, &ev) ? 0 : -1;
}

static int emit_value(yaml_emitter_t *em, const json_t *v)
{
	yaml_event_t ev;
	char num[64];
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *k;
		const json_t *x;
		if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE) ||
		    !yaml_emitter_emit(em, &ev))
			return -1;
		json_object_foreach((json_t *)v, k, x) {
			json_t *tmp = resolve_plain(k);
			int q = tmp != NULL;
			json_decref(tmp);
			if (emit_scalar(em, k, q) || emit_value(em, x))
				return -1;
		}
		return yaml_mapping_end_event_initialize(&ev) && yaml_emitter_emit(em, &ev) ? 0 : -1;
	}
	case JSON_ARRAY: {
		size_t i;
		const json_t *x;
		if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE) ||
		    !yaml_emitter_emit(em, &ev))
			return -1;
		json_array_foreach(v, i, x) {
			if (emit_value(em, x))
				return -1;
		}
		return yaml_sequence_end_event_initialize(&ev) && yaml_emitter_emit(em, &ev) ? 0 : -1;
	}
	case JSON_STRING: {
		json_t *tmp = resolve_plain(json_string_value(v));
		int q = tmp != NULL;
		json_decref(tmp);
		return emit_scalar(em, json_string_value(v), q);
	}
	case JSON_INTEGER:
		snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return emit_scalar(em, num, 0);
	case JSON_REAL: {
		snprintf(num, sizeof num, "%.17g", json_real_value(v));
		size_t len = strlen(num);
		if (!strpbrk(num, ".eEn") && len + 3 <= sizeof num)
			memcpy(num + len, ".0", 3); /* keep it a real when read back */
		return emit_scalar(em, num, 0);
	}
	case JSON_TRUE:
		return emit_scalar(em, "true", 0);
	case JSON_FALSE:
		return emit_scalar(em, "false", 0);
	default:
		return emit_scalar(em, "null", 0);
	}
}

int hero_yaml_dump(const json_t *value, char **out, struct hero_error *err)
{
	yaml_emitter_t em;
	yaml_event_t ev;
	struct sbuf b = { 0 };
	int ok = 0;
	if (!yaml_emitter_initialize(&em))
		return hero_error(err, HERO_EFAIL, "out of memory");
	yaml_emitter_set_output(&em, buf_writer, &b);
	yaml_emitter_set_unicode(&em, 1);
	yaml_emitter_set_width(&em, -1);
	ok = yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) && yaml_emitter_emit(&em, &ev) &&
	     yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) && yaml_emitter_emit(&em, &ev) &&
	     emit_value(&em, value) == 0 && yaml_document_end_event_initialize(&ev, 1) &&
	     yaml_emitter_emit(&em, &ev) && yaml_stream_end_event_initialize(&ev) &&
	     yaml_emitter_emit(&em, &ev) && yaml_emitter_flush(&em);
	if (ok && !b.p)
		ok = sb_add(&b, "", 0) == 0;
	const char *problem = em.problem;
	yaml_emitter_delete(&em);
	if (!ok) {
		free(b.p);
		return hero_error(err, HERO_EFAIL, "cannot write YAML: %s", problem ? problem : "out of memory");
	}
	*out = b.p;
	return 0;
}

int hero_yaml_write_file(const char *path, const json_t *value, struct hero_error *err)
{
	char *text = NULL;
	int rc = hero_yaml_dump(value, &text, err);
	if (rc < 0)
		return rc;
	rc = hero_write_atomic(path, text, strlen(text), 0644, 0, err);
	free(text);
	return rc;
}

/* ---- service names and signals ------------------------------------------ */

int hero_svc_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > 128)
		return 0;
	for (const char *p = name; *p; p++)
		if (*p == '/' || *p == '\\' || *p == '.' || iscntrl((unsigned char)*p) ||
		    isspace((unsigned char)*p))
			return 0;
	return 1;
}

static const struct {
	const char *name;
	int num;
} signals[] = {
	{ "HUP", SIGHUP },   { "INT", SIGINT },   { "QUIT", SIGQUIT }, { "ILL", SIGILL },
	{ "TRAP", SIGTRAP }, { "ABRT", SIGABRT }, { "BUS", SIGBUS },   { "FPE", SIGFPE },
	{ "KILL", SIGKILL }, { "USR1", SIGUSR1 }, { "SEGV", SIGSEGV }, { "USR2", SIGUSR2 },
	{ "PIPE", SIGPIPE }, { "ALRM", SIGALRM }, { "TERM", SIGTERM }, { "CHLD", SIGCHLD },
	{ "CONT", SIGCONT }, { "STOP", SIGSTOP }, { "TSTP", SIGTSTP }, { "TTIN", SIGTTIN },
	{ "TTOU", SIGTTOU }, { "URG", SIGURG },   { "XCPU", SIGXCPU }, { "XFSZ", SIGXFSZ },
	{ "VTALRM", SIGVTALRM }, { "PROF", SIGPROF }, { "WINCH", SIGWINCH }, { "IO", SIGIO },
	{ "PWR", SIGPWR },   { "SYS", SIGSYS },
};

int hero_signal_number(const char *name)
{
	if (!name)
		return -1;
	if (!strncasecmp(name, "SIG", 3))
		name += 3;
	for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
		if (!strcasecmp(name, signals[i].name))
			return signals[i].num;
	return -1;
}

/* ---- canonical service form --------------------------------------------- */

struct canon {
	const char *svc;
	struct hero_error *err;
};

static int bad(struct canon *c, const char *key, const char *want)
{
	return hero_error(c->err, HERO_EUSAGE, "service '%s': '%s' must be %s", c->svc, key, want);
}

/* A non-negative integer from an integer or a string of digits. */
static int get_uint(struct canon *c, const char *key, const json_t *v, json_int_t *out)
{
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*out = json_integer_value(v);
		return 0;
	}
	if (json_is_string(v) && all_digits(json_string_value(v), 10)) {
		*out = strtoll(json_string_value(v), NULL, 10);
		return 0;
	}
	return bad(c, key, "a non-negative integer");
}

static int canon_string(struct canon *c, json_t *out, const char *key, const json_t *v)
{
	if (!json_is_string(v))
		return bad(c, key, "a string");
	if (*json_string_value(v))
		json_object_set(out, key, (json_t *)v);
	return 0;
}

static int canon_after(struct canon *c, json_t *out, const json_t *v)
{
	json_t *list = json_array();
	size_t i;
	const json_t *x;
	if (json_is_string(v)) {
		json_array_append_new(list, json_string(json_string_value(v)));
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, x) {
			if (!json_is_string(x) || !hero_svc_name_valid(json_string_value(x))) {
				json_decref(list);
				return bad(c, "after", "a list of service names");
			}
			json_array_append_new(list, json_string(json_string_value(x)));
		}
	} else if (!json_is_null(v)) {
		json_decref(list);
		return bad(c, "after", "a list of service names");
	}
	/* sort and deduplicate: order does not change when a service may start */
	size_t n = json_array_size(list);
	for (size_t a = 1; a < n; a++)
		for (size_t b = a; b > 0; b--) {
			json_t *l = json_array_get(list, b - 1), *r = json_array_get(list, b);
			if (strcmp(json_string_value(l), json_string_value(r)) <= 0)
				break;
			json_incref(l);
			json_array_set(list, b - 1, r);
			json_array_set_new(list, b, l);
		}
	for (size_t a = 1; a < json_array_size(list);) {
		if (!strcmp(json_string_value(json_array_get(list, a - 1)),
			    json_string_value(json_array_get(list, a))))
			json_array_remove(list, a);
		else
			a++;
	}
	if (json_array_size(list))
		json_object_set(out, "after", list);
	json_decref(list);
	return 0;
}

static int canon_signal(struct canon *c, json_t *out, const json_t *v)
{
	const json_t *stop = v;
	if (json_is_object(v)) {
		const char *k;
		const json_t *x;
		json_object_foreach((json_t *)v, k, x) {
			if (strcmp(k, "stop"))
				return hero_error(c->err, HERO_EUSAGE, "service '%s': unknown key 'signal.%s'",
						  c->svc, k);
		}
		stop = json_object_get(v, "stop");
		if (!stop)
			return 0;
	}
	if (!json_is_string(stop) || hero_signal_number(json_string_value(stop)) < 0)
		return bad(c, "signal.stop", "a signal name such as SIGTERM");
	char name[32];
	const char *s = json_string_value(stop);
	if (!strncasecmp(s, "SIG", 3))
		s += 3;
	snprintf(name, sizeof name, "SIG%s", s);
	for (char *p = name; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	if (strcmp(name, "SIGTERM"))
		json_object_set_new(out, "signal", json_pack("{ss}", "stop", name));
	return 0;
}

static int canon_env(struct canon *c, json_t *out, const json_t *v)
{
	if (json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return bad(c, "env", "a mapping of names to values");
	json_t *env = json_object();
	const char *k;
	const json_t *x;
	char num[64];
	json_object_foreach((json_t *)v, k, x) {
		if (json_is_string(x))
			json_object_set(env, k, (json_t *)x);
		else if (json_is_integer(x)) {
			snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(x));
			json_object_set_new(env, k, json_string(num));
		} else if (json_is_real(x)) {
			snprintf(num, sizeof num, "%g", json_real_value(x));
			json_object_set_new(env, k, json_string(num));
		} else if (json_is_boolean(x))
			json_object_set_new(env, k, json_string(json_is_true(x) ? "true" : "false"));
		else {
			json_decref(env);
			return hero_error(c->err, HERO_EUSAGE, "service '%s': env '%s' must be a plain value",
					  c->svc, k);
		}
	}
	if (json_object_size(env))
		json_object_set(out, "env", env);
	json_decref(env);
	return 0;
}

/* A nested mapping (retry, health) whose keys are listed in SPEC as
 * "name:type" with type u (non-negative integer), r (real >= 0) or s (string). */
static int canon_sub(struct canon *c, json_t *out, const char *key, const json_t *v,
		     const char *const *spec)
{
	if (json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return bad(c, key, "a mapping");
	json_t *sub = json_object();
	const char *k;
	const json_t *x;
	int rc = 0;
	json_object_foreach((json_t *)v, k, x) {
		char type = 0, full[160];
		for (const char *const *s = spec; *s; s++)
			if (!strncmp(*s, k, strlen(k)) && (*s)[strlen(k)] == ':')
				type = (*s)[strlen(k) + 1];
		snprintf(full, sizeof full, "%s.%s", key, k);
		json_int_t iv;
		if (!type) {
			rc = hero_error(c->err, HERO_EUSAGE, "service '%s': unknown key '%s'", c->svc, full);
		} else if (type == 'u') {
			if ((rc = get_uint(c, full, x, &iv)) == 0)
				json_object_set_new(sub, k, json_integer(iv));
		} else if (type == 'r') {
			if (json_is_number(x) && json_number_value(x) >= 0)
				json_object_set_new(sub, k, json_real(json_number_value(x)));
			else
				rc = bad(c, full, "a non-negative number");
		} else if (json_is_string(x)) {
			json_object_set(sub, k, (json_t *)x);
		} else {
			rc = bad(c, full, "a string");
		}
		if (rc)
			break;
	}
	if (!rc && json_object_size(sub))
		json_object_set(out, key, sub);
	json_decref(sub);
	return rc;
}

static const char *const retry_spec[] = { "max_attempts:u", "delay_ms:u", "backoff:r",
					  "stability_period_ms:u", NULL };
static const char *const health_spec[] = { "http:s", "rpc:s", "socket:s", "url:s",
					   "interval_ms:u", "timeout_ms:u", NULL };

static int canon_field(struct canon *c, json_t *out, const char *k, const json_t *v, int strict)
{
	json_int_t iv;
	if (!strcmp(k, "exec") || !strcmp(k, "test") || !strcmp(k, "dir"))
		return canon_string(c, out, k, v);
	if (!strcmp(k, "oneshot")) {
		if (!json_is_boolean(v))
			return bad(c, k, "true or false");
		if (json_is_true(v))
			json_object_set_new(out, k, json_true());
		return 0;
	}
	if (!strcmp(k, "after"))
		return canon_after(c, out, v);
	if (!strcmp(k, "shutdown_timeout")) {
		if (get_uint(c, k, v, &iv) < 0)
			return -c->err->code;
		if (iv != 10)
			json_object_set_new(out, k, json_integer(iv));
		return 0;
	}
	if (!strcmp(k, "signal"))
		return canon_signal(c, out, v);
	if (!strcmp(k, "log")) {
		const char *s = json_is_string(v) ? json_string_value(v) : "";
		if (strcmp(s, "none") && strcmp(s, "ring") && strcmp(s, "stdout"))
			return bad(c, k, "one of none, ring, stdout");
		if (strcmp(s, "ring"))
			json_object_set(out, k, (json_t *)v);
		return 0;
	}
	if (!strcmp(k, "env"))
		return canon_env(c, out, v);
	if (!strcmp(k, "retry"))
		return canon_sub(c, out, k, v, retry_spec);
	if (!strcmp(k, "health"))
		return canon_sub(c, out, k, v, health_spec);
	if (strict)
		return hero_error(c->err, HERO_EUSAGE, "service '%s': unknown key '%s'", c->svc, k);
	json_object_set(out, k, (json_t *)v);
	return 0;
}

int hero_svc_canon(const char *name, const json_t *in, int strict, json_t **out, struct hero_error *err)
{
	struct hero_error local = HERO_ERROR_INIT;
	struct canon c = { name, err ? err : &local };
	if (!json_is_object(in))
		return hero_error(err, HERO_EUSAGE, "service '%s': definition must be a mapping", name);
	json_t *res = json_object();
	if (!res)
		return hero_error(err, HERO_EFAIL, "out of memory");
	/* a fixed key order keeps dumps and diffs stable */
	static const char *const order[] = { "exec", "test", "oneshot", "after", "shutdown_timeout",
					     "signal", "log", "env", "dir", "retry", "health", NULL };
	for (const char *const *k = order; *k; k++) {
		const json_t *v = json_object_get(in, *k);
		if (v && canon_field(&c, res, *k, v, strict) < 0)
			goto fail;
	}
	const char *k;
	const json_t *v;
	json_object_foreach((json_t *)in, k, v) {
		int known = 0;
		for (const char *const *o = order; *o; o++)
			known |= !strcmp(*o, k);
		if (!known && canon_field(&c, res, k, v, strict) < 0)
			goto fail;
	}
	if (!json_object_get(res, "exec")) {
		hero_error(c.err, HERO_EUSAGE, "service '%s': 'exec' is required", name);
		goto fail;
	}
	*out = res;
	return 0;
fail:
	json_decref(res);
	return -(c.err->code ? c.err->code : HERO_EUSAGE);
}

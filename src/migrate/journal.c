/* journal.c - the SQLite journal of migration jobs (docs/decisions/0030). */
#include "hero/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "base/internal.h"

struct hero_journal {
	sqlite3 *db;
	char *path, *dir;
};

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"INSERT OR IGNORE INTO meta VALUES('schema', '1');"
	"CREATE TABLE IF NOT EXISTS jobs(id TEXT PRIMARY KEY, created INTEGER NOT NULL, updated INTEGER NOT NULL,"
	" state TEXT NOT NULL, context TEXT NOT NULL, source TEXT NOT NULL, target TEXT NOT NULL,"
	" spec TEXT NOT NULL, error TEXT);"
	"CREATE TABLE IF NOT EXISTS stages(job TEXT NOT NULL REFERENCES jobs(id), seq INTEGER NOT NULL,"
	" name TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, started INTEGER,"
	" finished INTEGER, inputs TEXT, outputs TEXT, error TEXT, PRIMARY KEY(job, name));"
	"CREATE TABLE IF NOT EXISTS attempts(job TEXT NOT NULL, stage TEXT NOT NULL, n INTEGER NOT NULL,"
	" started INTEGER NOT NULL, finished INTEGER, ok INTEGER, error TEXT, PRIMARY KEY(job, stage, n));"
	"CREATE TABLE IF NOT EXISTS secrets(job TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,"
	" PRIMARY KEY(job, name));";

long long hero_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long hero_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int db_error(struct hero_journal *j, struct hero_error *err, const char *what)
{
	return hero_error(err, HERO_EFAIL, "journal '%s': %s: %s", j->path, what, sqlite3_errmsg(j->db));
}

/* mkdir -p with mode 0700 for the directories it creates. */
static int make_dirs(const char *dir, struct hero_error *err)
{
	char *p = strdup(dir);
	int ret = 0;
	if (!p)
		return hero_error(err, HERO_EFAIL, "out of memory");
	for (char *s = strchr(p + 1, '/');; s = strchr(s + 1, '/')) {
		if (s)
			*s = '\0';
		if (*p && mkdir(p, 0700) < 0 && errno != EEXIST) {
			ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot create directory '%s'", p);
			break;
		}
		if (!s)
			break;
		*s = '/';
	}
	free(p);
	return ret;
}

/* Create the file 0600 before SQLite sees it; refuse one others can read. */
static int prepare_file(const char *path, struct hero_error *err)
{
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	struct stat st;
	if (fd < 0)
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot open journal '%s'", path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return hero_error(err, HERO_EFAIL, "journal '%s' is not a regular file", path);
	}
	close(fd);
	if (st.st_mode & 077)
		return hero_error(err, HERO_EFAIL,
				  "journal '%s' is readable by others (mode %04o): it holds secrets; chmod 600 it",
				  path, (unsigned)(st.st_mode & 07777));
	return 0;
}

int hero_journal_new(const char *path, struct hero_journal **out, struct hero_error *err)
{
	struct hero_journal *j = calloc(1, sizeof *j);
	char *base = NULL;
	int ret = -HERO_EFAIL;
	if (!j || !(j->path = strdup(path))) {
		ret = hero_error(err, HERO_EFAIL, "out of memory");
		goto out;
	}
	if ((ret = hero_split_path(path, &j->dir, &base, err)) < 0)
		goto out;
	if ((ret = make_dirs(j->dir, err)) < 0 || (ret = prepare_file(path, err)) < 0)
		goto out;
	if (sqlite3_open_v2(path, &j->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL) != SQLITE_OK) {
		ret = db_error(j, err, "cannot open");
		goto out;
	}
	sqlite3_busy_timeout(j->db, 5000);
	if (sqlite3_exec(j->db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA secure_delete=ON;", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(j->db, schema_sql, NULL, NULL, NULL) != SQLITE_OK) {
		ret = db_error(j, err, "cannot create the schema");
		goto out;
	}
	*out = j;
	j = NULL;
	ret = 0;
out:
	free(base);
	hero_journal_free(j);
	return ret;
}

void hero_journal_free(struct hero_journal *j)
{
	if (!j)
		return;
	sqlite3_close(j->db);
	free(j->path);
	free(j->dir);
	free(j);
}

char *hero_journal_job_dir(struct hero_journal *j, const char *id, struct hero_error *err)
{
	char *d = hero_join(j->dir, id);
	if (!d) {
		hero_error(err, HERO_EFAIL, "out of memory");
		return NULL;
	}
	if (mkdir(d, 0700) < 0 && errno != EEXIST) {
		hero_error_errno(err, HERO_EFAIL, errno, "cannot create job directory '%s'", d);
		free(d);
		return NULL;
	}
	return d;
}

int hero_journal_lock(struct hero_journal *j, const char *id, int *out, struct hero_error *err)
{
	char *d = hero_journal_job_dir(j, id, err), *p = d ? hero_join(d, "lock") : NULL;
	int fd = -1, ret = -HERO_EFAIL;
	if (!p) {
		ret = d ? hero_error(err, HERO_EFAIL, "out of memory") : -err->code;
		goto out;
	}
	if ((fd = open(p, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0) {
		ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot open job lock '%s'", p);
		goto out;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ret = errno == EWOULDBLOCK
			      ? hero_error(err, HERO_EBUSY, "job '%s' is busy: another hero-migrate holds its lock", id)
			      : hero_error_errno(err, HERO_EFAIL, errno, "cannot lock '%s'", p);
		goto out;
	}
	*out = fd;
	fd = -1;
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	free(p);
	free(d);
	return ret;
}

/* ---- statements --------------------------------------------------------- */

/* Prepare SQL and bind the arguments described by TYPES: 's' text (NULL
 * binds NULL), 'i' long long, 'j' json_t * (compact text; NULL binds NULL). */
static sqlite3_stmt *prep(struct hero_journal *j, const char *sql, const char *types, va_list ap,
			  struct hero_error *err)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(j->db, sql, -1, &st, NULL) != SQLITE_OK) {
		db_error(j, err, "cannot prepare a statement");
		return NULL;
	}
	for (int i = 0; types[i]; i++) {
		int rc;
		if (types[i] == 'i') {
			rc = sqlite3_bind_int64(st, i + 1, va_arg(ap, long long));
		} else if (types[i] == 'j') {
			const json_t *v = va_arg(ap, const json_t *);
			char *t = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
			rc = t ? sqlite3_bind_text(st, i + 1, t, -1, free) : sqlite3_bind_null(st, i + 1);
		} else {
			const char *s = va_arg(ap, const char *);
			rc = s ? sqlite3_bind_text(st, i + 1, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i + 1);
		}
		if (rc != SQLITE_OK) {
			db_error(j, err, "cannot bind a value");
			sqlite3_finalize(st);
			return NULL;
		}
	}
	return st;
}

/* Run one statement that returns no rows; *CHANGES (may be NULL) receives the rows changed. */
static int run(struct hero_journal *j, struct hero_error *err, int *changes, const char *sql, const char *types, ...)
{
	va_list ap;
	va_start(ap, types);
	sqlite3_stmt *st = prep(j, sql, types, ap, err);
	va_end(ap);
	if (!st)
		return -HERO_EFAIL;
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_error(j, err, "cannot write");
	if (changes)
		*changes = sqlite3_changes(j->db);
	return 0;
}

static int begin(struct hero_journal *j, struct hero_error *err)
{
	if (sqlite3_exec(j->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_error(j, err, "cannot begin a transaction");
	return 0;
}

static int commit(struct hero_journal *j, int ret, struct hero_error *err)
{
	if (ret < 0) {
		sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
		return ret;
	}
	if (sqlite3_exec(j->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		ret = db_error(j, err, "cannot commit");
		sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
	}
	return ret;
}

/* ---- jobs --------------------------------------------------------------- */

int hero_journal_create(struct hero_journal *j, const char *id, const char *context, const char *source,
			const char *target, const json_t *spec, const char *const *names, const int *skipped,
			size_t n, struct hero_error *err)
{
	long long now = hero_now_ms();
	int ret = begin(j, err);
	if (ret < 0)
		return ret;
	ret = run(j, err, NULL, "INSERT INTO jobs VALUES(?, ?, ?, 'running', ?, ?, ?, ?, NULL)", "siisssj", id, now,
		  now, context, source, target, spec);
	for (size_t i = 0; ret == 0 && i < n; i++)
		ret = run(j, err, NULL, "INSERT INTO stages(job, seq, name, state) VALUES(?, ?, ?, ?)", "siss", id,
			  (long long)i, names[i], skipped && skipped[i] ? HERO_STAGE_SKIPPED : HERO_STAGE_PENDING);
	return commit(j, ret, err);
}

int hero_journal_set_job(struct hero_journal *j, const char *id, const char *state, const char *error,
			 struct hero_error *err)
{
	int n = 0;
	int ret = run(j, err, &n, "UPDATE jobs SET state = ?, error = ?, updated = ? WHERE id = ?", "ssis", state,
		      error, hero_now_ms(), id);
	if (ret == 0 && n == 0)
		return hero_error(err, HERO_EUSAGE, "no job '%s' in '%s'", id, j->path);
	return ret;
}

static json_t *col_json(sqlite3_stmt *st, int i)
{
	const char *t = (const char *)sqlite3_column_text(st, i);
	if (!t)
		return json_null();
	json_t *v = json_loads(t, JSON_DECODE_ANY, NULL);
	return v ? v : json_string(t);
}

static json_t *col_text(sqlite3_stmt *st, int i)
{
	const char *t = (const char *)sqlite3_column_text(st, i);
	return t ? json_string(t) : json_null();
}

static json_t *col_int(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? json_null()
							   : json_integer((json_int_t)sqlite3_column_int64(st, i));
}

/* Rows of SQL (with one text parameter ARG) as objects with the columns NAMES;
 * a column whose name starts with '@' is JSON text, '#' an integer. */
static int query(struct hero_journal *j, const char *sql, const char *arg, const char *const *names, json_t **out,
		 struct hero_error *err)
{
	sqlite3_stmt *st = NULL;
	json_t *rows = json_array();
	int rc, ret = 0;
	if (sqlite3_prepare_v2(j->db, sql, -1, &st, NULL) != SQLITE_OK ||
	    (arg && sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT) != SQLITE_OK)) {
		ret = db_error(j, err, "cannot read");
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *row = json_object();
		for (int i = 0; names[i]; i++) {
			const char *n = names[i];
			json_t *v = n[0] == '@' ? col_json(st, i) : n[0] == '#' ? col_int(st, i) : col_text(st, i);
			json_object_set_new(row, n[0] == '@' || n[0] == '#' ? n + 1 : n, v);
		}
		json_array_append_new(rows, row);
	}
	if (rc != SQLITE_DONE)
		ret = db_error(j, err, "cannot read");
out:
	sqlite3_finalize(st);
	if (ret == 0)
		*out = json_incref(rows);
	json_decref(rows);
	return ret;
}

static int attach_history(struct hero_journal *j, const char *id, json_t *stages, struct hero_error *err)
{
	static const char *const cols[] = { "stage", "#n", "#started", "#finished", "#ok", "error", NULL };
	json_t *hist = NULL, *s;
	size_t i;
	int ret = query(j, "SELECT stage, n, started, finished, ok, error FROM attempts WHERE job = ?1 ORDER BY n",
			id, cols, &hist, err);
	if (ret < 0)
		return ret;
	json_array_foreach(stages, i, s) {
		json_t *h = json_array(), *a;
		size_t k;
		json_array_foreach(hist, k, a) {
			if (json_equal(json_object_get(a, "stage"), json_object_get(s, "name"))) {
				json_t *c = json_deep_copy(a);
				json_object_del(c, "stage");
				json_object_set_new(c, "ok", json_boolean(json_integer_value(json_object_get(a, "ok"))));
				json_array_append_new(h, c);
			}
		}
		json_object_set_new(s, "history", h);
	}
	json_decref(hist);
	return 0;
}

int hero_journal_get(struct hero_journal *j, const char *id, json_t **out, struct hero_error *err)
{
	static const char *const jcols[] = { "id", "state", "#created", "#updated", "context", "source",
					     "target", "error", "@spec", NULL };
	static const char *const scols[] = { "name", "state", "#attempts", "#started", "#finished",
					     "@inputs", "@outputs", "error", NULL };
	json_t *jobs = NULL, *stages = NULL;
	int ret = query(j, "SELECT id, state, created, updated, context, source, target, error, spec FROM jobs"
			   " WHERE id = ?1", id, jcols, &jobs, err);
	if (ret < 0)
		return ret;
	if (json_array_size(jobs) == 0) {
		json_decref(jobs);
		return hero_error(err, HERO_EUSAGE, "no job '%s' in '%s'", id, j->path);
	}
	ret = query(j, "SELECT name, state, attempts, started, finished, inputs, outputs, error FROM stages"
		       " WHERE job = ?1 ORDER BY seq", id, scols, &stages, err);
	if (ret == 0)
		ret = attach_history(j, id, stages, err);
	if (ret == 0) {
		*out = json_incref(json_array_get(jobs, 0));
		json_object_set(*out, "stages", stages);
	}
	json_decref(stages);
	json_decref(jobs);
	return ret;
}

int hero_journal_list(struct hero_journal *j, json_t **out, struct hero_error *err)
{
	static const char *const cols[] = { "id", "state", "#created", "#updated", "context", "source",
					    "target", "stage", "error", NULL };
	return query(j,
		     "SELECT id, state, created, updated, context, source, target,"
		     " (SELECT name FROM stages s WHERE s.job = jobs.id AND s.state NOT IN ('done', 'skipped')"
		     "  ORDER BY seq LIMIT 1), error FROM jobs ORDER BY created DESC, id",
		     NULL, cols, out, err);
}

int hero_journal_find_unfinished(struct hero_journal *j, const char *source, const char *context, char **id,
				 struct hero_error *err)
{
	sqlite3_stmt *st = NULL;
	int ret = 0;
	*id = NULL;
	if (sqlite3_prepare_v2(j->db,
			       "SELECT id FROM jobs WHERE source = ? AND context = ? AND state IN ('running', 'failed')"
			       " ORDER BY created LIMIT 1",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(st, 1, source, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
	    sqlite3_bind_text(st, 2, context, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
		ret = db_error(j, err, "cannot read");
		goto out;
	}
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && !(*id = strdup((const char *)sqlite3_column_text(st, 0))))
		ret = hero_error(err, HERO_EFAIL, "out of memory");
	else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = db_error(j, err, "cannot read");
out:
	sqlite3_finalize(st);
	return ret;
}

/* ---- stages ------------------------------------------------------------- */

static int touch_job(struct hero_journal *j, const char *id, long long now, struct hero_error *err)
{
	return run(j, err, NULL, "UPDATE jobs SET updated = ? WHERE id = ?", "is", now, id);
}

int hero_journal_stage_begin(struct hero_journal *j, const char *id, const char *stage, const json_t *inputs,
			     int *attempt, struct hero_error *err)
{
	long long now = hero_now_ms();
	sqlite3_stmt *st = NULL;
	int n = 0, ret = begin(j, err);
	if (ret < 0)
		return ret;
	ret = run(j, err, &n,
		  "UPDATE stages SET state = 'running', attempts = attempts + 1, started = ?, finished = NULL,"
		  " inputs = coalesce(?, inputs) WHERE job = ? AND name = ?",
		  "ijss", now, inputs, id, stage);
	if (ret == 0 && n == 0)
		ret = hero_error(err, HERO_EUSAGE, "job '%s' has no stage '%s'", id, stage);
	if (ret == 0 && (sqlite3_prepare_v2(j->db, "SELECT attempts FROM stages WHERE job = ? AND name = ?", -1, &st,
					    NULL) != SQLITE_OK ||
			 sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
			 sqlite3_bind_text(st, 2, stage, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
			 sqlite3_step(st) != SQLITE_ROW))
		ret = db_error(j, err, "cannot read");
	if (ret == 0)
		*attempt = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (ret == 0)
		ret = run(j, err, NULL, "INSERT OR REPLACE INTO attempts(job, stage, n, started) VALUES(?, ?, ?, ?)",
			  "ssii", id, stage, (long long)*attempt, now);
	if (ret == 0)
		ret = touch_job(j, id, now, err);
	return commit(j, ret, err);
}

int hero_journal_stage_output(struct hero_journal *j, const char *id, const char *stage, const json_t *outputs,
			      struct hero_error *err)
{
	return run(j, err, NULL, "UPDATE stages SET outputs = ? WHERE job = ? AND name = ?", "jss", outputs, id,
		   stage);
}

int hero_journal_stage_end(struct hero_journal *j, const char *id, const char *stage, int ok, const char *state,
			   const json_t *outputs, const char *error, struct hero_error *err)
{
	long long now = hero_now_ms();
	int ret = begin(j, err);
	if (ret < 0)
		return ret;
	ret = run(j, err, NULL,
		  "UPDATE stages SET state = ?, finished = ?, outputs = coalesce(?, outputs), error = ?"
		  " WHERE job = ? AND name = ?",
		  "sijsss", ok ? HERO_STAGE_DONE : state, now, outputs, ok ? NULL : error, id, stage);
	if (ret == 0)
		ret = run(j, err, NULL,
			  "UPDATE attempts SET finished = ?, ok = ?, error = ? WHERE job = ? AND stage = ?"
			  " AND n = (SELECT attempts FROM stages WHERE job = ?4 AND name = ?5)",
			  "iisss", now, (long long)(ok != 0), ok ? NULL : error, id, stage);
	if (ret == 0)
		ret = touch_job(j, id, now, err);
	return commit(j, ret, err);
}

/* ---- secrets ------------------------------------------------------------ */

int hero_journal_secret_put(struct hero_journal *j, const char *id, const char *name, const char *value,
			    struct hero_error *err)
{
	return run(j, err, NULL, "INSERT OR REPLACE INTO secrets VALUES(?, ?, ?)", "sss", id, name, value);
}

int hero_journal_secret_get(struct hero_journal *j, const char *id, const char *name, char **value,
			    struct hero_error *err)
{
	sqlite3_stmt *st = NULL;
	int ret = 0;
	*value = NULL;
	if (sqlite3_prepare_v2(j->db, "SELECT value FROM secrets WHERE job = ? AND name = ?", -1, &st, NULL) !=
		    SQLITE_OK ||
	    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
	    sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
		ret = db_error(j, err, "cannot read");
		goto out;
	}
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		size_t n = strlen(v);
		if (sodium_init() < 0 || !(*value = sodium_malloc(n + 1))) {
			ret = hero_error(err, HERO_EFAIL, "out of memory");
			goto out;
		}
		memcpy(*value, v, n + 1);
	} else if (rc != SQLITE_DONE) {
		ret = db_error(j, err, "cannot read");
	}
out:
	sqlite3_finalize(st);
	return ret;
}

int hero_journal_secret_delete(struct hero_journal *j, const char *id, struct hero_error *err)
{
	/* secure_delete (set at open) overwrites the freed content with zeros */
	return run(j, err, NULL, "DELETE FROM secrets WHERE job = ?", "s", id);
}

void hero_journal_secret_free(char *value)
{
	if (value)
		sodium_free(value);
}

/* hero-dbwriter - a steady SQLite writer, and a checker of the state it leaves.
 *
 *   hero-dbwriter DB [--seconds N] [--ready FILE] [--interval MS]
 *   hero-dbwriter --check DB
 *
 * The writer commits, one transaction at a time, 100 ledger rows sharing a new
 * batch number plus counter 'rows' = the total row count. Any state a correct
 * snapshot can capture therefore satisfies: count(ledger) == counter.rows,
 * every batch has exactly 100 rows, batches run 1..max without a gap. The
 * checker verifies exactly that (and quick_check) in one read transaction;
 * a torn copy, or one that lost the -wal file, fails it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#define BATCH_ROWS 100

struct wopts {
	const char *db;
	const char *ready;
	double seconds;           /* 0: until SIGTERM */
	long interval_ms;         /* pause between transactions */
	int check;
};

/* Set by SIGTERM/SIGINT; a signal handler can only reach a global. */
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static _Noreturn void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void die(int code, const char *fmt, ...)
{
	va_list ap;
	fputs("hero-dbwriter: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void db_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		die(1, "'%s': %s", sqlite3_db_filename(db, "main"), msg ? msg : sqlite3_errmsg(db));
}

static sqlite3_stmt *db_prepare(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		die(1, "'%s': %s", sqlite3_db_filename(db, "main"), sqlite3_errmsg(db));
	return st;
}

static sqlite3 *db_open(const char *path, int flags)
{
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK)
		die(1, "cannot open '%s': %s", path, db ? sqlite3_errmsg(db) : "out of memory");
	sqlite3_busy_timeout(db, 5000);
	return db;
}

/* ---- writer ---- */

struct writer {
	sqlite3 *db;
	sqlite3_stmt *last, *ins, *count;
	long long batches, rows;
};

static void writer_open(struct writer *w, const char *path)
{
	w->db = db_open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
	db_exec(w->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
		"CREATE TABLE IF NOT EXISTS ledger(id INTEGER PRIMARY KEY, batch INTEGER, n INTEGER);"
		"CREATE TABLE IF NOT EXISTS counter(k TEXT PRIMARY KEY, v INTEGER);"
		"INSERT OR IGNORE INTO counter(k, v) VALUES('rows', (SELECT count(*) FROM ledger))");
	w->last = db_prepare(w->db, "SELECT coalesce((SELECT batch FROM ledger ORDER BY id DESC LIMIT 1), 0)");
	w->ins = db_prepare(w->db, "INSERT INTO ledger(batch, n) VALUES(?, ?)");
	w->count = db_prepare(w->db, "UPDATE counter SET v = v + ? WHERE k = 'rows'");
}

/* Run one statement to completion; returns the SQLite result code. */
static int step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? SQLITE_DONE : rc;
}

/* One transaction: a new batch of BATCH_ROWS rows and the counter.
 * Returns 1 on commit, 0 when the database stayed busy (nothing written). */
static int writer_batch(struct writer *w)
{
	int rc = sqlite3_exec(w->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc == SQLITE_BUSY)
		return 0;
	if (rc != SQLITE_OK)
		goto fail;
	if ((rc = sqlite3_step(w->last)) != SQLITE_ROW)
		goto fail;
	sqlite3_int64 batch = sqlite3_column_int64(w->last, 0) + 1;
	sqlite3_reset(w->last);
	for (int n = 0; n < BATCH_ROWS; n++) {
		sqlite3_bind_int64(w->ins, 1, batch);
		sqlite3_bind_int(w->ins, 2, n);
		if ((rc = step_done(w->ins)) != SQLITE_DONE)
			goto fail;
	}
	sqlite3_bind_int(w->count, 1, BATCH_ROWS);
	if ((rc = step_done(w->count)) != SQLITE_DONE)
		goto fail;
	if ((rc = sqlite3_exec(w->db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
		goto fail;
	w->batches++;
	w->rows += BATCH_ROWS;
	return 1;
fail:
	if (rc == SQLITE_BUSY) {
		sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
		return 0;
	}
	die(1, "'%s': %s", sqlite3_db_filename(w->db, "main"), sqlite3_errmsg(w->db));
}

static void touch_ready(const char *path)
{
	char text[32];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die(1, "cannot create '%s': %s", path, strerror(errno));
	int n = snprintf(text, sizeof text, "%ld\n", (long)getpid());
	if (n < 0 || (size_t)n >= sizeof text || write(fd, text, (size_t)n) != n || close(fd) < 0)
		die(1, "cannot write '%s': %s", path, strerror(errno));
}

static void pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	if (ms > 0)
		nanosleep(&ts, NULL);
}

static int run_writer(const struct wopts *o)
{
	struct writer w = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	writer_open(&w, o->db);
	double end = now() + o->seconds;
	while (!stop_requested && (o->seconds <= 0 || now() < end)) {
		if (writer_batch(&w) && w.batches == 1 && o->ready)
			touch_ready(o->ready);
		pause_ms(o->interval_ms);
	}
	sqlite3_finalize(w.last);
	sqlite3_finalize(w.ins);
	sqlite3_finalize(w.count);
	if (sqlite3_close(w.db) != SQLITE_OK)
		die(1, "'%s': cannot close: %s", o->db, sqlite3_errmsg(w.db));
	printf("hero-dbwriter: %lld batches, %lld rows written to %s\n", w.batches, w.rows, o->db);
	return 0;
}

/* ---- checker ---- */

/* The first column of the first row of SQL as an integer; *NULLP set if NULL or no row. */
static sqlite3_int64 query_int(sqlite3 *db, const char *sql, int *nullp)
{
	sqlite3_stmt *st = db_prepare(db, sql);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		die(1, "'%s': %s", sqlite3_db_filename(db, "main"), sqlite3_errmsg(db));
	*nullp = rc == SQLITE_DONE || sqlite3_column_type(st, 0) == SQLITE_NULL;
	sqlite3_int64 v = *nullp ? 0 : sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int inconsistent(const char *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int inconsistent(const char *db, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "hero-dbwriter: '%s' is inconsistent: ", db);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static int quick_check(sqlite3 *db, const char *path)
{
	sqlite3_stmt *st = db_prepare(db, "PRAGMA quick_check");
	int rc = sqlite3_step(st);
	int ok = rc == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
	if (!ok)
		fprintf(stderr, "hero-dbwriter: '%s' fails quick_check: %s\n", path,
			rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return ok;
}

/* All queries run in one read transaction, so they see one instant. */
static int check_state(sqlite3 *db, const char *path)
{
	int isnull;
	if (!quick_check(db, path))
		return 1;
	sqlite3_int64 rows = query_int(db, "SELECT count(*) FROM ledger", &isnull);
	sqlite3_int64 counter = query_int(db, "SELECT v FROM counter WHERE k = 'rows'", &isnull);
	if (isnull)
		return inconsistent(path, "counter 'rows' is missing");
	if (rows != counter)
		return inconsistent(path, "ledger has %lld rows, counter says %lld", rows, counter);
	sqlite3_int64 bad = query_int(db, "SELECT batch FROM ledger GROUP BY batch HAVING count(*) != 100 "
				      "OR count(DISTINCT n) != 100 OR min(n) != 0 LIMIT 1", &isnull);
	if (!isnull)
		return inconsistent(path, "batch %lld does not hold exactly 100 rows numbered 0-99", bad);
	sqlite3_int64 batches = query_int(db, "SELECT count(DISTINCT batch) FROM ledger", &isnull);
	sqlite3_int64 lo = query_int(db, "SELECT coalesce(min(batch), 1) FROM ledger", &isnull);
	sqlite3_int64 hi = query_int(db, "SELECT coalesce(max(batch), 0) FROM ledger", &isnull);
	if (lo != 1 || hi != batches)
		return inconsistent(path, "batches are not contiguous from 1 (%lld distinct, %lld to %lld)",
				    batches, lo, hi);
	printf("consistent: %lld batches, %lld rows\n", batches, rows);
	return 0;
}

static int run_check(const char *path)
{
	if (access(path, F_OK) < 0)
		die(1, "cannot open '%s': %s", path, strerror(errno));
	sqlite3 *db = db_open(path, SQLITE_OPEN_READONLY);
	int isnull;
	if (query_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
		      "AND name IN ('ledger', 'counter')", &isnull) != 2) {
		sqlite3_close(db);
		return inconsistent(path, "table 'ledger' or 'counter' is missing");
	}
	db_exec(db, "BEGIN");
	int ret = check_state(db, path);
	db_exec(db, "COMMIT");
	sqlite3_close(db);
	return ret;
}

/* ---- options ---- */

static _Noreturn void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: hero-dbwriter DB [--seconds N] [--ready FILE] [--interval MS]\n"
		"       hero-dbwriter --check DB\n"
		"Write batches of 100 ledger rows to DB (WAL) until N seconds passed or SIGTERM,\n"
		"touching FILE after the first commit; or check that DB holds a consistent state.\n");
	exit(code);
}

static void parse_opts(int argc, char **argv, struct wopts *o)
{
	static const struct option longopts[] = {
		{ "check", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "interval", required_argument, NULL, 'i' },
		{ "ready", required_argument, NULL, 'r' },
		{ "seconds", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	char *end;
	while ((c = getopt_long(argc, argv, "chi:r:s:", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o->check = 1; break;
		case 'h': usage(0);
		case 'i':
			o->interval_ms = strtol(optarg, &end, 10);
			if (*end || end == optarg || o->interval_ms < 0)
				die(2, "invalid interval '%s'", optarg);
			break;
		case 'r': o->ready = optarg; break;
		case 's':
			o->seconds = strtod(optarg, &end);
			if (*end || end == optarg || o->seconds < 0)
				die(2, "invalid seconds '%s'", optarg);
			break;
		default: usage(2);
		}
	}
	if (optind != argc - 1)
		usage(2);
	o->db = argv[optind];
	if (o->check && (o->ready || o->seconds > 0))
		die(2, "--check cannot be combined with --ready or --seconds");
}

int main(int argc, char **argv)
{
	struct wopts o = { .interval_ms = 1 };
	parse_opts(argc, argv, &o);
	return o.check ? run_check(o.db) : run_writer(&o);
}

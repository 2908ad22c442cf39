/* fuzz_tar_diff - the reader's two tar parsers side by side. The input is a
 * tar stream: tarck (src/format/tarck.c) parses it on its own, whole and again in
 * pieces that straddle blocks; libarchive (tar format, no filters, as the
 * reader sets it up) parses it on its own. Whenever tarck accepts the whole
 * stream, the oracle aborts unless tarck's two runs agree and libarchive
 * returns exactly the entries tarck recorded, in order (first header offset,
 * path, size, type), reads each file's data to its size, and reaches the end
 * without error at the block where tarck found the end. Each input is
 * checked as it is and again with the checksum of every block that looks
 * like a ustar header rewritten, so mutated headers get past both parsers'
 * checksum test. */
#include <locale.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>

#include "format/tarck.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* the tools' locale (cmd/common.c): libarchive converts pax UTF-8 paths into it */
	if (!setlocale(LC_CTYPE, "C.UTF-8"))
		setlocale(LC_CTYPE, "");
	return 0;
}

static void oracle(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void oracle(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("oracle: the tar parsers disagree: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

/* Parse DATA with tarck in pieces of STEP bytes; 1 when it accepts the whole stream. */
static int tarck_run(struct hero_tarck *t, const uint8_t *data, size_t size, size_t step)
{
	struct hero_error err = HERO_ERROR_INIT;
	hero_tarck_init(t, SIZE_MAX);
	for (size_t i = 0; i < size; i += step)
		if (hero_tarck_feed(t, data + i, size - i < step ? size - i : step, &err) < 0)
			return 0;
	return t->st == HERO_TARCK_END;
}

static void same_records(struct hero_tarck *a, struct hero_tarck *b)
{
	if (a->qlen != b->qlen || a->end_off != b->end_off || a->entries != b->entries)
		oracle("tarck reads %zu entries whole, %zu in pieces", a->qlen, b->qlen);
	for (size_t i = 0; i < a->qlen; i++) {
		const struct hero_tarck_rec *x = &a->q[a->qhead + i], *y = &b->q[b->qhead + i];
		if (x->off != y->off || x->size != y->size || x->dir != y->dir || strcmp(x->path, y->path))
			oracle("tarck reads entry %zu differently whole and in pieces", i + 1);
	}
}

/* Rewrite the checksum of every block that looks like a ustar header, so
 * mutations of header fields reach both parsers. 1 when anything changed. */
static int fix_checksums(uint8_t *p, size_t n)
{
	int changed = 0;
	for (size_t off = 0; off + 512 <= n; off += 512) {
		uint8_t *b = p + off, old[8];
		if (memcmp(b + 257, "ustar", 5) != 0)
			continue;
		unsigned sum = 0;
		memcpy(old, b + 148, 8);
		memset(b + 148, ' ', 8);
		for (size_t i = 0; i < 512; i++)
			sum += b[i];
		snprintf((char *)b + 148, 8, "%06o", sum);
		changed |= memcmp(old, b + 148, 8) != 0;
	}
	return changed;
}

static void check(const uint8_t *data, size_t size)
{
	struct hero_tarck t, pieces;
	int ok = tarck_run(&t, data, size, size ? size : 1);
	int ok2 = tarck_run(&pieces, data, size, 509);
	if (ok != ok2)
		oracle("tarck %s the stream whole but %s it in pieces", ok ? "accepts" : "refuses",
		       ok2 ? "accepts" : "refuses");
	if (!ok) {
		hero_tarck_release(&t);
		hero_tarck_release(&pieces);
		return;
	}
	same_records(&t, &pieces);
	hero_tarck_release(&pieces);

	struct archive *a = archive_read_new();
	if (!a || archive_read_support_format_tar(a) != ARCHIVE_OK ||
	    archive_read_support_filter_none(a) != ARCHIVE_OK)
		abort();
	if (archive_read_open_memory(a, data, size) != ARCHIVE_OK)
		oracle("libarchive cannot open what tarck accepts: %s", archive_error_string(a));
	struct archive_entry *e;
	static uint8_t buf[65536];
	uint64_t n = 0;
	const struct hero_tarck_rec *r;
	while ((r = hero_tarck_peek(&t))) {
		n++;
		int rc = archive_read_next_header(a, &e);
		if (rc != ARCHIVE_OK)
			oracle("entry %llu ('%s' at %llu): libarchive returns %d: %s", (unsigned long long)n, r->path,
			       (unsigned long long)r->off, rc, archive_error_string(a) ? archive_error_string(a) : "");
		la_int64_t pos = archive_read_header_position(a), sz = archive_entry_size(e);
		const char *path = archive_entry_pathname(e);
		int dir = archive_entry_filetype(e) == AE_IFDIR;
		if (pos < 0 || (uint64_t)pos != r->off)
			oracle("entry %llu ('%s'): header at %llu for tarck, %lld for libarchive", (unsigned long long)n,
			       r->path, (unsigned long long)r->off, (long long)pos);
		if (!path || strcmp(path, r->path))
			oracle("entry %llu: path '%s' for tarck, '%s' for libarchive", (unsigned long long)n, r->path,
			       path ? path : "(none)");
		if (sz < 0 || (uint64_t)sz != r->size || dir != r->dir)
			oracle("entry %llu ('%s'): %s of %llu bytes for tarck, %s of %lld for libarchive",
			       (unsigned long long)n, r->path, r->dir ? "dir" : "file", (unsigned long long)r->size,
			       dir ? "dir" : "file", (long long)sz);
		if (archive_entry_filetype(e) != AE_IFREG && !dir)
			oracle("entry %llu ('%s'): libarchive type 0%o", (unsigned long long)n, r->path,
			       (unsigned)archive_entry_filetype(e));
		if (!dir) { /* read the data as the reader does */
			uint64_t got = 0;
			la_ssize_t k;
			while ((k = archive_read_data(a, buf, sizeof buf)) > 0)
				got += (uint64_t)k;
			if (k < 0 || got != r->size)
				oracle("entry %llu ('%s'): libarchive reads %llu of %llu data bytes (%s)",
				       (unsigned long long)n, r->path, (unsigned long long)got,
				       (unsigned long long)r->size, k < 0 ? archive_error_string(a) : "end");
		}
		hero_tarck_take(&t);
	}
	int rc = archive_read_next_header(a, &e);
	if (rc != ARCHIVE_EOF)
		oracle("libarchive returns %d after tarck's %llu entries ('%s')", rc, (unsigned long long)n,
		       rc == ARCHIVE_OK && archive_entry_pathname(e) ? archive_entry_pathname(e) : "");
	if ((uint64_t)archive_read_header_position(a) != t.end_off)
		oracle("the end at %llu for tarck, %lld for libarchive", (unsigned long long)t.end_off,
		       (long long)archive_read_header_position(a));
	archive_read_free(a);
	hero_tarck_release(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check(data, size);
	uint8_t *copy = malloc(size ? size : 1);
	if (!copy)
		abort();
	if (size)
		memcpy(copy, data, size);
	if (fix_checksums(copy, size))
		check(copy, size);
	free(copy);
	return 0;
}

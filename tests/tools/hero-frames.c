/* hero-frames - list and rearrange the frames of an archive, for tests.
 *
 *   hero-frames list FILE                 one line per frame: index offset magic size
 *   hero-frames drop N IN OUT             OUT = IN without frame N
 *   hero-frames swap N M IN OUT           OUT = IN with frames N and M exchanged
 *   hero-frames dup N IN OUT              OUT = IN with frame N repeated after itself
 *
 * Frames are zstd frames (walked with ZSTD_findFrameCompressedSize) and
 * skippable frames (magic 0x184D2A5?, length-prefixed). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

struct frame {
	size_t off, len;
	uint32_t magic;
};

static uint8_t *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		exit(1);
	}
	fseek(f, 0, SEEK_END);
	long len = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *buf = malloc((size_t)len + 1);
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		fprintf(stderr, "cannot read %s\n", path);
		exit(1);
	}
	fclose(f);
	*n = (size_t)len;
	return buf;
}

static size_t frames(const uint8_t *b, size_t n, struct frame *out, size_t cap)
{
	size_t k = 0, off = 0;
	while (off + 8 <= n && k < cap) {
		uint32_t magic = (uint32_t)b[off] | (uint32_t)b[off + 1] << 8 | (uint32_t)b[off + 2] << 16 |
				 (uint32_t)b[off + 3] << 24;
		size_t len;
		if ((magic & 0xFFFFFFF0u) == 0x184D2A50u) {
			uint32_t sz = (uint32_t)b[off + 4] | (uint32_t)b[off + 5] << 8 | (uint32_t)b[off + 6] << 16 |
				      (uint32_t)b[off + 7] << 24;
			len = 8 + (size_t)sz;
		} else {
			len = ZSTD_findFrameCompressedSize(b + off, n - off);
			if (ZSTD_isError(len))
				break;
		}
		if (off + len > n)
			break;
		out[k].off = off;
		out[k].len = len;
		out[k].magic = magic;
		k++;
		off += len;
	}
	if (off != n)
		fprintf(stderr, "hero-frames: %zu trailing bytes not in a frame\n", n - off);
	return k;
}

static void emit(FILE *f, const uint8_t *b, const struct frame *fr)
{
	fwrite(b + fr->off, 1, fr->len, f);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: hero-frames list FILE | drop N IN OUT | swap N M IN OUT | dup N IN OUT\n");
		return 2;
	}
	const char *cmd = argv[1];
	int two = !strcmp(cmd, "swap");
	const char *in = !strcmp(cmd, "list") ? argv[2] : argv[two ? 4 : 3];
	size_t n;
	uint8_t *b = slurp(in, &n);
	static struct frame fr[100000];
	size_t k = frames(b, n, fr, sizeof fr / sizeof fr[0]);
	if (!strcmp(cmd, "list")) {
		for (size_t i = 0; i < k; i++)
			printf("%zu %zu 0x%08x %zu\n", i, fr[i].off, fr[i].magic, fr[i].len);
		free(b);
		return 0;
	}
	if (argc < (two ? 6 : 5)) {
		free(b);
		return 2;
	}
	size_t a = strtoul(argv[2], NULL, 10), c = two ? strtoul(argv[3], NULL, 10) : 0;
	FILE *out = a < k && c < k ? fopen(argv[two ? 5 : 4], "wb") : NULL;
	if (!out) {
		fprintf(stderr, "hero-frames: no such frame (have %zu) or cannot write the output\n", k);
		free(b);
		return 1;
	}
	for (size_t i = 0; i < k; i++) {
		if (!strcmp(cmd, "drop") && i == a)
			continue;
		if (two && i == a)
			emit(out, b, &fr[c]);
		else if (two && i == c)
			emit(out, b, &fr[a]);
		else
			emit(out, b, &fr[i]);
		if (!strcmp(cmd, "dup") && i == a)
			emit(out, b, &fr[i]);
	}
	fclose(out);
	free(b);
	return 0;
}

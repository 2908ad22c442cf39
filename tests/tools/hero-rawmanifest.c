/* hero-rawmanifest - write a validly signed archive around any manifest, for tests.
 *
 *   hero-rawmanifest -s KEY -m MANIFEST.json -o OUT [-d PATH]...
 *
 * The manifest is taken as it is (only its "archive_id" is set to the one
 * of the header), so it may hold what no manifest directory could load: a
 * service name with control bytes, escape sequences or bidi characters.
 * Each -d adds an empty directory entry PATH for the manifest's first
 * service, context "root". The archive is written and signed by the
 * library's own writer, so only the manifest is hostile. */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "hero/archive.h"
#include "hero/keys.h"

static void die(const char *msg, const char *more)
{
	fprintf(stderr, "hero-rawmanifest: %s%s%s\n", msg, more ? ": " : "", more ? more : "");
	exit(1);
}

int main(int argc, char **argv)
{
	const char *key = NULL, *mpath = NULL, *out = NULL, *dirs[64];
	size_t ndirs = 0;
	int ch;
	while ((ch = getopt(argc, argv, "s:m:o:d:")) != -1) {
		switch (ch) {
		case 's': key = optarg; break;
		case 'm': mpath = optarg; break;
		case 'o': out = optarg; break;
		case 'd':
			if (ndirs == sizeof dirs / sizeof *dirs)
				die("too many -d", NULL);
			dirs[ndirs++] = optarg;
			break;
		default: die("usage: hero-rawmanifest -s KEY -m MANIFEST.json -o OUT [-d PATH]...", NULL);
		}
	}
	if (!key || !mpath || !out || optind != argc)
		die("usage: hero-rawmanifest -s KEY -m MANIFEST.json -o OUT [-d PATH]...", NULL);
	struct hero_error err = HERO_ERROR_INIT;
	struct hero_seckey *sk = NULL;
	struct hero_awriter *w = NULL;
	json_error_t je;
	json_t *m = json_load_file(mpath, 0, &je);
	if (!m)
		die("manifest is not JSON", je.text);
	if (hero_crypto_init(&err) < 0 || hero_seckey_load(&sk, key, NULL, &err) < 0)
		die(err.msg, NULL);
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die("cannot create", out);
	if (hero_awriter_new(&w, fd, sk, NULL, &err) < 0)
		die(err.msg, NULL);
	char id[2 * HERO_ID_BYTES + 1];
	hero_hex(hero_awriter_header(w)->archive_id, HERO_ID_BYTES, id);
	json_object_set_new(m, "archive_id", json_string(id));
	char *text = json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER);
	const char *svc = json_string_value(json_object_get(json_array_get(json_object_get(m, "services"), 0), "name"));
	if (!text || hero_awriter_manifest(w, text, strlen(text), &err) < 0)
		die(err.msg, NULL);
	for (size_t i = 0; i < ndirs; i++)
		if (hero_awriter_dir(w, dirs[i], 0755, 1700000000, svc, "root", &err) < 0)
			die(err.msg, NULL);
	if (hero_awriter_finish(w, NULL, &err) < 0 || fsync(fd) < 0 || close(fd) < 0)
		die(err.msg[0] ? err.msg : "cannot write", out);
	free(text);
	json_decref(m);
	hero_awriter_free(w);
	hero_seckey_free(sk);
	return 0;
}

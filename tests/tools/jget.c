/* jget - print one value of a JSON document (for CLI scenarios).
 *
 *   jget FILE|- PATH      PATH like services.store.pid or probes.0.ok
 *
 * Strings print raw, other values as compact JSON; "length" after a path
 * prints the size of an array or object. Exits 1 when the path is absent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: jget FILE|- PATH\n");
		return 2;
	}
	json_error_t e;
	json_t *doc = !strcmp(argv[1], "-") ? json_loadf(stdin, 0, &e) : json_load_file(argv[1], 0, &e);
	if (!doc) {
		fprintf(stderr, "jget: %s: %s\n", argv[1], e.text);
		return 1;
	}
	json_t *v = doc, *len = NULL;
	for (const char *k = argv[2]; k && v;) {
		const char *dot = strchr(k, '.');
		size_t n = dot ? (size_t)(dot - k) : strlen(k);
		char key[256];
		snprintf(key, sizeof key, "%.*s", (int)n, k);
		k = dot ? dot + 1 : NULL;
		if (!strcmp(key, "length") && (json_is_array(v) || json_is_object(v))) {
			len = json_integer((json_int_t)(json_is_array(v) ? json_array_size(v) : json_object_size(v)));
			v = len;
			break;
		}
		v = json_is_array(v) ? json_array_get(v, strtoul(key, NULL, 10)) : json_object_get(v, key);
	}
	if (!v) {
		json_decref(doc);
		return 1;
	}
	if (json_is_string(v))
		puts(json_string_value(v));
	else {
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		puts(s ? s : "");
		free(s);
	}
	json_decref(len);
	json_decref(doc);
	return 0;
}

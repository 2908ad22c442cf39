/* usock - send bytes to a Unix socket and print what comes back (for CLI scenarios).
 *
 *   usock [--lines N] [--timeout-ms MS] SOCKET DATA
 *
 * Writes DATA (with "\n" escapes expanded) in one write, then copies the reply
 * to stdout until N newlines (default: until EOF) or the timeout (default 3 s).
 * Exits 1 when it cannot connect.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static size_t unescape(const char *in, char *out)
{
	size_t n = 0;
	for (; *in; in++) {
		if (in[0] == '\\' && in[1] == 'n') {
			out[n++] = '\n';
			in++;
		} else {
			out[n++] = *in;
		}
	}
	return n;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "lines", required_argument, NULL, 'l' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	long lines = -1, timeout = 3000;
	int opt;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'l')
			lines = atol(optarg);
		else if (opt == 't')
			timeout = atol(optarg);
		else
			return 2;
	}
	if (argc - optind != 2) {
		fprintf(stderr, "usage: usock [--lines N] [--timeout-ms MS] SOCKET DATA\n");
		return 2;
	}
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", argv[optind]);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		fprintf(stderr, "usock: cannot connect to '%s': %s\n", argv[optind], strerror(errno));
		return 1;
	}
	char *data = malloc(strlen(argv[optind + 1]) + 1);
	size_t len = data ? unescape(argv[optind + 1], data) : 0;
	if (!data || write(fd, data, len) != (ssize_t)len)
		return 1;
	free(data);
	char buf[4096];
	for (long seen = 0; lines < 0 || seen < lines;) {
		struct pollfd p = { fd, POLLIN, 0 };
		if (poll(&p, 1, (int)timeout) <= 0)
			break;
		ssize_t n = read(fd, buf, sizeof buf);
		if (n <= 0)
			break;
		fwrite(buf, 1, (size_t)n, stdout);
		for (ssize_t i = 0; i < n; i++)
			seen += buf[i] == '\n';
	}
	close(fd);
	return 0;
}

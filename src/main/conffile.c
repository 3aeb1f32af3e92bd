/* conffile.c owns the configuration file's format: reading it whole into a wiped buffer, and
 * cutting it into "key = value" entries with their line numbers. It must never know what a key
 * means (options.c does), never print, and never put a line's text in an error: a value may be
 * a password (a PostgreSQL conninfo). Only whole lines are comments, because a '#' is at home in
 * conninfo strings and paths. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "main/conffile.h"

#define BLANKS " \t\r"	/* '\r': a file written on Windows ends its lines in "\r\n" */

/* What the file is, when it is not a regular file. */
static const char *file_type(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISCHR(mode) || S_ISBLK(mode))
		return "a device";
	return "of an unknown type";
}

int conffile_read(const char *path, struct conffile *cf, struct kl_err *err)
{
	struct stat st;
	size_t len = 0;
	ssize_t got;
	char extra;
	int fd, rc = -1;

	/* O_NONBLOCK: opening a FIFO must not wait for a writer; fstat() then refuses it. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0)
		return kl_fail(err, KL_EINVAL, "cannot open: %s", strerror(errno));
	if (fstat(fd, &st) != 0) {
		kl_fail(err, KL_EINVAL, "cannot read: %s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		kl_fail(err, KL_EINVAL, "not a regular file: it is %s", file_type(st.st_mode));
		goto out;
	}
	if (st.st_size > CONFFILE_SIZE_MAX) {
		kl_fail(err, KL_EINVAL, "larger than %d bytes", CONFFILE_SIZE_MAX);
		goto out;
	}
	if ((cf->text = secbuf_new((size_t)st.st_size, err)) == NULL)
		goto out;
	while (len < cf->text->len) {
		got = read(fd, cf->text->data + len, cf->text->len - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			kl_fail(err, KL_EINVAL, "cannot read: %s", strerror(errno));
			goto out;
		}
		if (got == 0)
			break;
		len += (size_t)got;
	}
	/* A file cut short or grown while it was read may end in half a line: refuse it. */
	while ((got = read(fd, &extra, 1)) < 0 && errno == EINTR)
		;
	secure_wipe(&extra, sizeof(extra));
	if (len != cf->text->len || got != 0) {
		kl_fail(err, KL_EINVAL, "changed while it was read; try again");
		goto out;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

/* s without the blanks around it: the trailing ones are cut off in place. */
static char *trim(char *s)
{
	char *end;

	s += strspn(s, BLANKS);
	end = s + strlen(s);
	while (end > s && strchr(BLANKS, end[-1]) != NULL)
		*--end = '\0';
	return s;
}

/* A value in double quotes loses them; what is inside stays as it is (blanks, '#', '"'). */
static int unquote(char **v, struct kl_err *err)
{
	size_t n = strlen(*v);

	if ((*v)[0] != '"')
		return 0;
	if (n < 2 || (*v)[n - 1] != '"')
		return kl_fail(err, KL_EINVAL,
			       "the value starts with '\"' but does not end with one");
	(*v)[n - 1] = '\0';
	(*v)++;
	return 0;
}

int conffile_next(struct conffile *cf, const char **key, const char **value, struct kl_err *err)
{
	char *text, *line, *eol, *eq, *k, *v;
	size_t len, n;

	assert(cf->text != NULL);
	text = (char *)cf->text->data;
	len = cf->text->len;
	while (cf->pos < len) {
		line = text + cf->pos;
		eol = memchr(line, '\n', len - cf->pos);
		n = eol != NULL ? (size_t)(eol - line) : len - cf->pos;
		cf->pos += n + (eol != NULL);
		cf->line++;
		if (n > CONFFILE_LINE_MAX)
			return kl_fail(err, KL_EINVAL, "the line is longer than %d bytes",
				       CONFFILE_LINE_MAX);
		if (memchr(line, '\0', n) != NULL)
			return kl_fail(err, KL_EINVAL, "the line holds a NUL byte");
		line[n] = '\0';	/* the '\n', or the NUL the secbuf keeps after its bytes */
		k = trim(line);
		if (*k == '\0' || *k == '#')
			continue;
		if ((eq = strchr(k, '=')) == NULL)
			return kl_fail(err, KL_EINVAL, "no '=': a line is 'key = value', a comment "
				       "starting with '#', or blank");
		*eq = '\0';	/* the key ends at the first '=': values may hold more */
		k = trim(k);
		v = trim(eq + 1);
		if (*k == '\0')
			return kl_fail(err, KL_EINVAL, "no key before '='");
		if (unquote(&v, err) != 0)
			return -1;
		*key = k;
		*value = v;
		return 1;
	}
	return 0;
}

void conffile_clear(struct conffile *cf)
{
	secbuf_free(cf->text);
	memset(cf, 0, sizeof(*cf));	/* ready for conffile_read() again */
}

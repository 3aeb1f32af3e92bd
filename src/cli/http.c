/* http.c is the CLI's only includer of <curl/curl.h>. It owns the transport: TLS settings,
 * timeouts, the bearer token header and the response body. It must never print a token or a
 * body, and it wipes the header that carried the token before libcurl frees it. (Buffers inside
 * libcurl and OpenSSL, such as the request head and TLS records, are freed unwiped: a limit we
 * accept, as no interface reaches them.) */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli/http.h"

#define HTTP_CONNECT_TIMEOUT_S 10L
#define HTTP_TIMEOUT_S 120L

struct http {
	CURL *curl;
	char *ca;
};

int http_global_init(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "kluis: cannot start libcurl\n");
		return -1;
	}
	return 0;
}

void http_global_cleanup(void)
{
	curl_global_cleanup();
}

struct http *http_new(const char *ca)
{
	struct http *h = calloc(1, sizeof(*h));

	if (h == NULL || (ca != NULL && (h->ca = strdup(ca)) == NULL)) {
		fprintf(stderr, "kluis: out of memory\n");
		goto fail;
	}
	if ((h->curl = curl_easy_init()) == NULL) {
		fprintf(stderr, "kluis: cannot start libcurl\n");
		goto fail;
	}
	return h;
fail:
	http_free(h);
	return NULL;
}

void http_free(struct http *h)
{
	if (h != NULL) {
		if (h->curl != NULL)
			curl_easy_cleanup(h->curl);
		free(h->ca);
		free(h);
	}
}

void http_resp_clear(struct http_resp *r)
{
	buf_clear(&r->body);
	r->status = 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct http_resp *r = arg;
	struct kl_err err;

	/* size is 1 by contract; a short count makes libcurl fail with CURLE_WRITE_ERROR. */
	if (buf_append(&r->body, p, size * n, &err) != 0)
		return 0;
	return size * n;
}

/* Wipes each header's text, then frees the list: one of them is the bearer token. */
static void free_headers(struct curl_slist *list)
{
	struct curl_slist *l;

	for (l = list; l != NULL; l = l->next)
		secure_wipe(l->data, strlen(l->data));
	curl_slist_free_all(list);
}

static struct curl_slist *add_header(struct curl_slist *list, const char *h, bool *ok)
{
	struct curl_slist *n = curl_slist_append(list, h);

	if (n == NULL) {
		*ok = false;
		return list;
	}
	return n;
}

/* Appends head (the name, ": " and any fixed start of the value) followed by a secret value,
 * built in wiping memory. */
static struct curl_slist *add_secret_header(struct curl_slist *list, const char *head,
					    const struct secbuf *value, bool *ok)
{
	struct secbuf *h = NULL;
	struct kl_err err;
	size_t n = strlen(head);

	if ((h = secbuf_new(n + value->len, &err)) == NULL) {
		*ok = false;
		return list;
	}
	memcpy(h->data, head, n);
	memcpy(h->data + n, value->data, value->len);
	list = add_header(list, (const char *)h->data, ok);
	secbuf_free(h);
	return list;
}

static struct curl_slist *build_headers(const struct buf *body, const struct secbuf *token,
					const struct http_opts *o)
{
	struct curl_slist *list = NULL;
	char ctype[128];
	bool ok = true;

	list = add_header(list, "Accept: application/json", &ok);
	list = add_header(list, "User-Agent: kluis/" KLUIS_VERSION, &ok);
	list = add_header(list, "Expect:", &ok);	/* no 100-continue round trip */
	if (body != NULL) {
		snprintf(ctype, sizeof(ctype), "Content-Type: %s",
			 o->content_type ? o->content_type : "application/json");
		list = add_header(list, ctype, &ok);
	}
	if (token != NULL)
		list = add_secret_header(list, "Authorization: Bearer ", token, &ok);
	if (o->secret_header != NULL && o->secret_value != NULL) {
		snprintf(ctype, sizeof(ctype), "%.100s: ", o->secret_header);
		list = add_secret_header(list, ctype, o->secret_value, &ok);
	}
	if (!ok) {
		free_headers(list);
		return NULL;
	}
	return list;
}

static void print_failure(const char *url, CURLcode cc, const char *detail)
{
	const char *why = detail[0] != '\0' ? detail : curl_easy_strerror(cc);

	switch (cc) {
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		fprintf(stderr, "kluis: bad URL %.200s: kluis speaks https:// only (%s)\n", url,
			why);
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
		fprintf(stderr, "kluis: TLS failure with %.200s: %s (check --ca/KLUIS_CA)\n", url,
			why);
		break;
	default:
		fprintf(stderr, "kluis: cannot reach %.200s: %s\n", url, why);
		break;
	}
}

static bool set_options(CURL *c, const char *ca, const char *method, const char *url,
			const struct buf *body, struct curl_slist *headers, long timeout_s,
			struct http_resp *out, char *errbuf)
{
	bool ok = true;

	ok &= curl_easy_setopt(c, CURLOPT_URL, url) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https") == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK;
	if (ca != NULL) {	/* that CA and nothing else: no system directory beside it */
		ok &= curl_easy_setopt(c, CURLOPT_CAINFO, ca) == CURLE_OK;
		ok &= curl_easy_setopt(c, CURLOPT_CAPATH, NULL) == CURLE_OK;
	}
	ok &= curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, HTTP_CONNECT_TIMEOUT_S) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_WRITEDATA, out) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf) == CURLE_OK;
	if (body != NULL || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
		/* Not COPYPOSTFIELDS: the body stays in the caller's wiping buffer only. */
		ok &= curl_easy_setopt(c, CURLOPT_POSTFIELDS,
				       body ? buf_cstr(body) : "") == CURLE_OK;
		ok &= curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
				       (curl_off_t)(body ? body->len : 0)) == CURLE_OK;
	}
	ok &= curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method) == CURLE_OK;
	return ok;
}

int http_request(struct http *h, const char *method, const char *url, const struct buf *body,
		 const struct secbuf *token, struct http_resp *out)
{
	static const struct http_opts dflt = { 0 };

	return http_request_opts(h, method, url, body, token, &dflt, out);
}

int http_request_opts(struct http *h, const char *method, const char *url, const struct buf *body,
		      const struct secbuf *token, const struct http_opts *o,
		      struct http_resp *out)
{
	char errbuf[CURL_ERROR_SIZE];
	struct curl_slist *headers = NULL;
	CURLcode cc;
	int rc = -1;

	buf_init_secret(&out->body, HTTP_BODY_MAX);
	out->status = 0;
	errbuf[0] = '\0';
	curl_easy_reset(h->curl);	/* keeps the open connections and TLS sessions */
	if ((headers = build_headers(body, token, o)) == NULL) {
		fprintf(stderr, "kluis: out of memory\n");
		goto out;
	}
	if (!set_options(h->curl, h->ca, method, url, body, headers,
			 o->timeout_s > 0 ? o->timeout_s : HTTP_TIMEOUT_S, out, errbuf)) {
		fprintf(stderr, "kluis: cannot set up the request (libcurl too old?)\n");
		goto out;
	}
	if ((cc = curl_easy_perform(h->curl)) != CURLE_OK) {
		if (cc == CURLE_WRITE_ERROR)
			fprintf(stderr, "kluis: the response from %.200s is larger than %u bytes\n",
				url, HTTP_BODY_MAX);
		else
			print_failure(url, cc, errbuf);
		goto out;
	}
	curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &out->status);
	rc = 0;
out:
	/* libcurl keeps the header list pointer; it is not used after this request. */
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL);
	free_headers(headers);
	if (rc != 0)
		http_resp_clear(out);
	return rc;
}

int http_escape(const char *s, struct buf *out, struct kl_err *err)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;
	char enc[3] = { '%', 0, 0 };

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			if (buf_putc(out, (char)*p, err) != 0)
				return -1;
			continue;
		}
		enc[1] = hex[*p >> 4];
		enc[2] = hex[*p & 15];
		if (buf_append(out, enc, 3, err) != 0)
			return -1;
	}
	return 0;
}

/* The idempotency of a create from its request (vault/idem.h): who sent it, its
 * x-ms-client-request-id, and the fingerprint of what it asks (the route's operation, the object
 * name as given, the body bytes as received). Without the header there is no record and no work
 * here: such a request takes exactly the path it took before records existed. */
#include "api/internal.h"
#include "vault/idem.h"

int api_idempotency(struct api_call *c, const char *name, struct obj_idem *idem,
		    const struct obj_idem **out)
{
	const char *id = c->req->client_request_id;

	*out = NULL;
	if (id == NULL || *id == '\0')
		return 0;
	if (idem_prepare(idem, c->who, id, c->st->route->op, name, c->req->body.data,
			 c->req->body.len, &c->err) != 0)
		return -1;
	*out = idem;
	return 0;
}

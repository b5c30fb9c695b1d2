/*
 * libskiff-gunzip.so: gzip inflate with ISA-L's igzip for gzip layers
 * (image/applier/isal-gunzip.ts), ~4x faster than zlib (issue 11 §3). A shim
 * because isal's struct inflate_state is ~45 kB of version-specific layout
 * koffi should not mirror; here the header does it. Built only where
 * libisal-dev is installed; Node falls back to zlib without it.
 *
 * Strict like the zlib path (decompress.ts): concatenated members are one
 * stream, anything after the last member that is not another member is an
 * error, and each member's CRC-32 and length are checked (crc_flag ISAL_GZIP).
 *
 * It also hashes what it inflates (the layer's diffID, sha256 of the tar) on
 * the same worker thread, with the SHA-256 of the OpenSSL already in the
 * process: Node's own (the node binary exports libcrypto's symbols for
 * addons) or the libcrypto.so.3 a distribution's node links. Looked up with
 * dlsym(RTLD_DEFAULT) rather than linked, so no second OpenSSL is ever loaded
 * (one linked here cost 12-20 MB of RSS); where none is found, Node hashes
 * the tar itself (skiff_gunzip_hash_output() says so).
 */
#include <dlfcn.h>
#include <isa-l/igzip_lib.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

/* libcrypto's EVP digest API, as much of it as is used here (stable since OpenSSL 1.1). */
struct evp_api {
	void *(*ctx_new)(void);
	void (*ctx_free)(void *);
	const void *(*sha256)(void);
	int (*init)(void *, const void *, void *);
	int (*update)(void *, const void *, size_t);
	int (*final)(void *, unsigned char *, unsigned int *);
};

static struct evp_api evp;
static int evp_found;
static pthread_once_t evp_once = PTHREAD_ONCE_INIT;

static void find_evp(void)
{
	evp.ctx_new = (void *(*)(void))dlsym(RTLD_DEFAULT, "EVP_MD_CTX_new");
	evp.ctx_free = (void (*)(void *))dlsym(RTLD_DEFAULT, "EVP_MD_CTX_free");
	evp.sha256 = (const void *(*)(void))dlsym(RTLD_DEFAULT, "EVP_sha256");
	evp.init = (int (*)(void *, const void *, void *))dlsym(RTLD_DEFAULT, "EVP_DigestInit_ex");
	evp.update = (int (*)(void *, const void *, size_t))dlsym(RTLD_DEFAULT, "EVP_DigestUpdate");
	evp.final = (int (*)(void *, unsigned char *, unsigned int *))dlsym(RTLD_DEFAULT, "EVP_DigestFinal_ex");
	evp_found = evp.ctx_new && evp.ctx_free && evp.sha256 && evp.init && evp.update && evp.final;
}

struct skiff_gunzip {
	struct inflate_state st;
	/* The current member ended (trailer checked); more input starts a new one. */
	int member_done;
	/* Members completed so far. */
	uint32_t members;
	/* sha256 of every byte inflated so far, when asked for (skiff_gunzip_hash_output). */
	void *md;
	/* An update failed (out of memory in libcrypto): the digest must not be trusted. */
	int md_failed;
};

void *skiff_gunzip_new(void)
{
	struct skiff_gunzip *g = malloc(sizeof *g);
	if (g == NULL)
		return NULL;
	isal_inflate_init(&g->st);
	g->st.crc_flag = ISAL_GZIP;
	g->member_done = 0;
	g->members = 0;
	g->md = NULL;
	g->md_failed = 0;
	return g;
}

void skiff_gunzip_free(void *p)
{
	struct skiff_gunzip *g = p;
	if (g != NULL && g->md != NULL)
		evp.ctx_free(g->md);
	free(g);
}

/*
 * Hash the output from now on (call before the first skiff_gunzip). Returns 0,
 * or -1 when this process has no libcrypto to hash with (the caller hashes).
 */
int skiff_gunzip_hash_output(void *p)
{
	struct skiff_gunzip *g = p;
	pthread_once(&evp_once, find_evp);
	if (!evp_found)
		return -1;
	g->md = evp.ctx_new();
	if (g->md == NULL)
		return -1;
	if (evp.init(g->md, evp.sha256(), NULL) != 1) {
		evp.ctx_free(g->md);
		g->md = NULL;
		return -1;
	}
	return 0;
}

/* The sha256 of all output into digest[32]: 0, or -1 (not hashing, or a failed update). Once. */
int skiff_gunzip_output_digest(void *p, unsigned char *digest)
{
	struct skiff_gunzip *g = p;
	unsigned int len = 0;
	if (g->md == NULL || g->md_failed)
		return -1;
	if (evp.final(g->md, digest, &len) != 1 || len != 32)
		return -1;
	evp.ctx_free(g->md);
	g->md = NULL;
	return 0;
}

/*
 * Inflates in[0..in_len) into out[0..out_len). io[0] = input bytes taken,
 * io[1] = output bytes made, io[2] = members completed so far, io[3] = 1 when
 * the stream stands at the end of a member (a valid place for it to end).
 * Returns 0, or isal's error code (< 0). Call again with the rest of the input
 * while input remains or the output filled up.
 */
int skiff_gunzip(void *p, const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_len, uint32_t *io)
{
	struct skiff_gunzip *g = p;
	uint32_t used = 0, made = 0;
	int ret = ISAL_DECOMP_OK;

	while (used < in_len || (!g->member_done && made < out_len)) {
		if (g->member_done) {
			/* Another member follows: its header must be a gzip header. */
			isal_inflate_reset(&g->st);
			g->st.crc_flag = ISAL_GZIP;
			g->member_done = 0;
		}
		g->st.next_in = (uint8_t *)in + used;
		g->st.avail_in = in_len - used;
		g->st.next_out = out + made;
		g->st.avail_out = out_len - made;
		ret = isal_inflate(&g->st);
		used = in_len - g->st.avail_in;
		made = out_len - g->st.avail_out;
		if (ret < 0)
			break;
		if (g->st.block_state == ISAL_BLOCK_FINISH) {
			g->member_done = 1;
			g->members++;
			continue;
		}
		/* Not finished: either all input is taken or the output is full. */
		break;
	}
	if (g->md != NULL && made > 0 && evp.update(g->md, out, made) != 1)
		g->md_failed = 1;
	io[0] = used;
	io[1] = made;
	io[2] = g->members;
	io[3] = (uint32_t)g->member_done;
	return ret < 0 ? ret : 0;
}

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
 */
#include <isa-l/igzip_lib.h>
#include <stdint.h>
#include <stdlib.h>

struct skiff_gunzip {
	struct inflate_state st;
	/* The current member ended (trailer checked); more input starts a new one. */
	int member_done;
	/* Members completed so far. */
	uint32_t members;
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
	return g;
}

void skiff_gunzip_free(void *g)
{
	free(g);
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
	io[0] = used;
	io[1] = made;
	io[2] = g->members;
	io[3] = (uint32_t)g->member_done;
	return ret < 0 ? ret : 0;
}

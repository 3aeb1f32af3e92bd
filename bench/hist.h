/* The load generator's latency histogram: log-linear buckets of nanoseconds, 1/64 relative
 * precision, from 0 to 2^44 ns (about 5 hours). One per worker thread, merged at the end; not
 * thread-safe. Included by loadgen.c only (static functions: one translation unit). */
#ifndef KLUIS_BENCH_HIST_H
#define KLUIS_BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 6
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_BUCKETS (HIST_SUB * 40)

struct hist {
	uint64_t counts[HIST_BUCKETS];
	uint64_t n;
	uint64_t max_ns;
	long double sum_ns;
};

static unsigned hist_index(uint64_t v)
{
	unsigned e, i;

	if (v < HIST_SUB)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v);
	i = (e - HIST_SUB_BITS + 1) * HIST_SUB + (unsigned)((v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1));
	return i < HIST_BUCKETS ? i : HIST_BUCKETS - 1;
}

/* The middle of bucket i. */
static double hist_value(unsigned i)
{
	unsigned e, sub;
	uint64_t width;

	if (i < HIST_SUB)
		return i;
	e = i / HIST_SUB + HIST_SUB_BITS - 1;
	sub = i % HIST_SUB;
	width = 1ull << (e - HIST_SUB_BITS);
	return (double)((HIST_SUB + sub) * width) + (double)width / 2.0;
}

static void hist_add(struct hist *h, uint64_t v)
{
	h->counts[hist_index(v)]++;
	h->n++;
	h->sum_ns += v;
	if (v > h->max_ns)
		h->max_ns = v;
}

static void hist_merge(struct hist *into, const struct hist *h)
{
	unsigned i;

	for (i = 0; i < HIST_BUCKETS; i++)
		into->counts[i] += h->counts[i];
	into->n += h->n;
	into->sum_ns += h->sum_ns;
	if (h->max_ns > into->max_ns)
		into->max_ns = h->max_ns;
}

/* The q-quantile (0..1) in microseconds. */
static double hist_quantile_us(const struct hist *h, double q)
{
	uint64_t want, seen = 0;
	unsigned i;

	if (h->n == 0)
		return 0;
	want = (uint64_t)(q * (double)h->n + 0.5);
	if (want < 1)
		want = 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->counts[i];
		if (seen >= want) {
			double v = hist_value(i);

			return (v > (double)h->max_ns ? (double)h->max_ns : v) / 1000.0;
		}
	}
	return (double)h->max_ns / 1000.0;
}

#endif

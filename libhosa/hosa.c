/* libhosa: see hosa.h. libbpf (static, PIC) does the loading; the ring buffer
 * reader is our own so that a record that does not fit the caller's buffer
 * stays in the ring (libbpf's consumer drops a record its callback refuses). */
#define _GNU_SOURCE
#include "hosa.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#define MAX_OBJS 32
#define MAX_PROGS 64
#define MAX_XDP 16
#define MAX_RINGS 16

struct xdp_attachment {
	int ifindex;
	int prog_fd;
	uint32_t flags;
};

struct obj {
	bool used;
	struct bpf_object *bpf;
	void *elf; /* libbpf reads the ELF image until load */
	struct bpf_link *links[MAX_PROGS];
	struct xdp_attachment xdp[MAX_XDP];
};

struct ring {
	bool used;
	int obj;
	void *consumer;
	void *producer;
	size_t consumer_len, producer_len;
	unsigned char *data;
	uint64_t mask;
};

#define MAX_READSETS 32
#define SHORT_READ_END 2048
/* The danger watch reads the usage file of every watched cgroup (up to 512)
 * in one set; the room for descriptors grows as files are added. */
#define MAX_READSET_FILES 4096

struct readset {
	bool used;
	int n;
	int cap;
	int *fds;
};

static struct readset readsets[MAX_READSETS];
/* The sampler (end of file): */
static uint32_t readset_opened[MAX_READSETS];
static void lock_if_sampling(bool *locked);
static void unlock_if(bool locked);
static void sampled_forget(int kind_set, int r, int h);
static int serve_readset(int r, struct readset *rs, void *buf, const uint32_t *offsets, const uint32_t *caps,
			 int32_t *lens);
static int serve_percpu(int fd, const void *key, uint64_t *out, uint32_t words);
static int serve_iter(int h, const char *prog, void *buf, size_t len);
static struct obj objs[MAX_OBJS];
static struct ring rings[MAX_RINGS];
static char last_error[1100] = "no error";
static char libbpf_warning[512];
static void *scratch;
static size_t scratch_len;
/* hosa_percpu_sum's last validated (fd, words); forgotten when an object closes,
 * since its fd numbers may then name other maps. */
static int checked_fd = -1;
static uint32_t checked_words;

/* Keep libbpf's first warning of the current call: after a failed load it is
 * the line that says why ("libbpf: prog 'x': failed to load: -13").
 * HOSA_LIBBPF_DEBUG=1 in the environment copies all of libbpf's output to stderr. */
static int on_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	static int debug = -1;

	if (debug < 0)
		debug = getenv("HOSA_LIBBPF_DEBUG") != NULL;
	if (debug) {
		va_list copy;
		va_copy(copy, args);
		vfprintf(stderr, fmt, copy);
		va_end(copy);
	}
	if (level != LIBBPF_WARN || libbpf_warning[0])
		return 0;
	vsnprintf(libbpf_warning, sizeof(libbpf_warning), fmt, args);
	libbpf_warning[strcspn(libbpf_warning, "\n")] = 0;
	return 0;
}

static void begin(void)
{
	static bool installed;

	if (!installed) {
		libbpf_set_print(on_libbpf_print);
		installed = true;
	}
	libbpf_warning[0] = 0;
}

/* Record "<action>: <strerror(err)>[: libbpf: <warning>]" and return -err. */
static int fail(int err, const char *fmt, ...)
{
	char action[512];
	va_list args;

	if (err <= 0)
		err = err < 0 ? -err : EINVAL;
	va_start(args, fmt);
	vsnprintf(action, sizeof(action), fmt, args);
	va_end(args);
	if (libbpf_warning[0])
		snprintf(last_error, sizeof(last_error), "%s: %s: %s", action, strerror(err),
			 libbpf_warning);
	else
		snprintf(last_error, sizeof(last_error), "%s: %s", action, strerror(err));
	return -err;
}

static struct obj *get_obj(int h)
{
	if (h < 0 || h >= MAX_OBJS || !objs[h].used)
		return NULL;
	return &objs[h];
}

static void *grow_scratch(size_t len)
{
	if (len > scratch_len) {
		void *p = realloc(scratch, len);
		if (!p)
			return NULL;
		scratch = p;
		scratch_len = len;
	}
	return scratch;
}

HOSA_API const char *hosa_last_error(void)
{
	return last_error;
}

HOSA_API int hosa_num_possible_cpus(void)
{
	int n = libbpf_num_possible_cpus();

	return n < 0 ? fail(-n, "count possible CPUs") : n;
}

/* The kernel's BTF for hosa_tracepoint_nargs: several megabytes once parsed,
 * so it is kept only while the loader asks, and freed by the next
 * hosa_obj_load (libbpf parses its own copy there and frees it after). */
static struct btf *vmlinux;

HOSA_API int hosa_tracepoint_nargs(const char *name)
{
	const struct btf_type *t;
	char type_name[256];
	int id;

	begin();
	if (!vmlinux) {
		vmlinux = btf__load_vmlinux_btf();
		if (!vmlinux)
			return fail(errno, "read kernel BTF");
	}
	snprintf(type_name, sizeof(type_name), "btf_trace_%s", name);
	id = btf__find_by_name_kind(vmlinux, type_name, BTF_KIND_TYPEDEF);
	if (id < 0)
		return fail(ENOENT, "find tracepoint %s in kernel BTF", name);
	t = btf__type_by_id(vmlinux, id);
	t = btf__type_by_id(vmlinux, t->type); /* typedef -> pointer */
	if (t && btf_is_ptr(t))
		t = btf__type_by_id(vmlinux, t->type); /* pointer -> func proto */
	if (!t || !btf_is_func_proto(t) || btf_vlen(t) < 1)
		return fail(EINVAL, "read tracepoint %s in kernel BTF: not a function prototype", name);
	return btf_vlen(t) - 1; /* the first is the probe's void *data */
}

HOSA_API int hosa_obj_open_mem(const void *buf, size_t len, const char *name)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = name);
	struct bpf_object *bpf;
	void *copy;
	int h;

	begin();
	for (h = 0; h < MAX_OBJS && objs[h].used; h++)
		;
	if (h == MAX_OBJS)
		return fail(EMFILE, "open BPF object %s: %d objects already open", name, MAX_OBJS);
	if (!buf || !len)
		return fail(EINVAL, "open BPF object %s: empty image", name);
	copy = malloc(len);
	if (!copy)
		return fail(ENOMEM, "open BPF object %s", name);
	memcpy(copy, buf, len);
	bpf = bpf_object__open_mem(copy, len, &opts);
	if (!bpf) {
		int err = errno;
		free(copy);
		return fail(err, "open BPF object %s", name);
	}
	memset(&objs[h], 0, sizeof(objs[h]));
	objs[h].used = true;
	objs[h].bpf = bpf;
	objs[h].elf = copy;
	return h;
}

HOSA_API int hosa_obj_set_rodata(int h, const char *var, const void *value, size_t len)
{
	struct obj *o = get_obj(h);
	const struct btf_var_secinfo *vsi;
	const struct btf_type *sec;
	struct bpf_map *map = NULL, *m;
	const struct btf *btf;
	size_t size;
	void *data;
	int id, i;

	begin();
	if (!o)
		return fail(EBADF, "set %s: no such object handle %d", var, h);
	bpf_object__for_each_map(m, o->bpf) {
		const char *n = bpf_map__name(m);
		size_t nl = strlen(n);
		if (nl >= 7 && strcmp(n + nl - 7, ".rodata") == 0)
			map = m;
	}
	btf = bpf_object__btf(o->bpf);
	if (!map || !btf)
		return fail(ENOENT, "set %s: the object has no .rodata with BTF", var);
	data = (void *)bpf_map__initial_value(map, &size);
	id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
	if (!data || id < 0)
		return fail(ENOENT, "set %s: no .rodata section (already loaded?)", var);
	sec = btf__type_by_id(btf, id);
	vsi = btf_var_secinfos(sec);
	for (i = 0; i < btf_vlen(sec); i++, vsi++) {
		const struct btf_type *t = btf__type_by_id(btf, vsi->type);
		if (strcmp(btf__name_by_offset(btf, t->name_off), var) != 0)
			continue;
		if (vsi->size != len)
			return fail(EINVAL, "set %s: it is %u bytes, %zu given", var, vsi->size, len);
		if (vsi->offset + len > size)
			return fail(EINVAL, "set %s: outside .rodata", var);
		memcpy((char *)data + vsi->offset, value, len);
		return 0;
	}
	return fail(ENOENT, "set %s: no such const volatile variable", var);
}

static struct bpf_program *find_prog(struct obj *o, const char *name)
{
	return bpf_object__find_program_by_name(o->bpf, name);
}

HOSA_API int hosa_obj_set_autoload(int h, const char *prog, int enabled)
{
	struct obj *o = get_obj(h);
	struct bpf_program *p;
	int err;

	begin();
	if (!o)
		return fail(EBADF, "set autoload of %s: no such object handle %d", prog, h);
	p = find_prog(o, prog);
	if (!p)
		return fail(ENOENT, "set autoload of %s: no such program", prog);
	err = bpf_program__set_autoload(p, enabled != 0);
	return err ? fail(-err, "set autoload of %s", prog) : 0;
}

HOSA_API int hosa_obj_load(int h)
{
	struct obj *o = get_obj(h);
	int err;

	begin();
	if (!o)
		return fail(EBADF, "load: no such object handle %d", h);
	btf__free(vmlinux);
	vmlinux = NULL;
	err = bpf_object__load(o->bpf);
	if (err)
		return fail(-err, "load BPF object %s", bpf_object__name(o->bpf));
	return 0;
}

static bool attaches_by_itself(struct bpf_program *p)
{
	/* A cgroup iterator walks the hierarchy it is attached to: the caller
	 * names it (hosa_obj_attach_iter_cgroup). */
	if (strcmp(bpf_program__section_name(p), "iter/cgroup") == 0)
		return false;
	switch (bpf_program__type(p)) {
	case BPF_PROG_TYPE_XDP:
	case BPF_PROG_TYPE_SCHED_CLS:
	case BPF_PROG_TYPE_SCHED_ACT:
	case BPF_PROG_TYPE_SOCKET_FILTER:
		return false;
	default:
		return bpf_program__autoload(p);
	}
}

static int prog_index(struct obj *o, struct bpf_program *want)
{
	struct bpf_program *p;
	int i = 0;

	bpf_object__for_each_program(p, o->bpf) {
		if (p == want)
			return i < MAX_PROGS ? i : -1;
		i++;
	}
	return -1;
}

static int attach_one(struct obj *o, struct bpf_program *p)
{
	int i = prog_index(o, p);
	struct bpf_link *link;

	if (i < 0)
		return fail(E2BIG, "attach %s: more than %d programs", bpf_program__name(p), MAX_PROGS);
	if (o->links[i])
		return 0;
	if (bpf_program__fd(p) < 0)
		return fail(EINVAL, "attach %s: not loaded", bpf_program__name(p));
	link = bpf_program__attach(p);
	if (!link)
		return fail(errno, "attach %s (%s)", bpf_program__name(p), bpf_program__section_name(p));
	o->links[i] = link;
	return 1;
}

HOSA_API int hosa_obj_attach_all(int h)
{
	struct obj *o = get_obj(h);
	struct bpf_program *p;
	int n = 0, err;

	begin();
	if (!o)
		return fail(EBADF, "attach: no such object handle %d", h);
	bpf_object__for_each_program(p, o->bpf) {
		if (!attaches_by_itself(p))
			continue;
		err = attach_one(o, p);
		if (err < 0)
			return err;
		n++;
	}
	return n;
}

HOSA_API int hosa_obj_attach(int h, const char *prog)
{
	struct obj *o = get_obj(h);
	struct bpf_program *p;
	int err;

	begin();
	if (!o)
		return fail(EBADF, "attach %s: no such object handle %d", prog, h);
	p = find_prog(o, prog);
	if (!p)
		return fail(ENOENT, "attach %s: no such program", prog);
	err = attach_one(o, p);
	return err < 0 ? err : 0;
}

HOSA_API long hosa_page_size(void)
{
	return sysconf(_SC_PAGESIZE);
}

HOSA_API int hosa_obj_attach_iter_cgroup(int h, const char *prog, const char *dir)
{
	LIBBPF_OPTS(bpf_iter_attach_opts, opts);
	union bpf_iter_link_info info;
	struct obj *o = get_obj(h);
	struct bpf_program *p;
	struct bpf_link *link;
	int i, fd;

	begin();
	if (!o)
		return fail(EBADF, "attach %s: no such object handle %d", prog, h);
	p = find_prog(o, prog);
	i = p ? prog_index(o, p) : -1;
	if (i < 0)
		return fail(ENOENT, "attach %s: no such program", prog);
	if (o->links[i])
		return 0;
	if (bpf_program__fd(p) < 0)
		return fail(EINVAL, "attach %s: not loaded", prog);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return fail(errno, "attach %s: open %s", prog, dir);
	memset(&info, 0, sizeof(info));
	info.cgroup.cgroup_fd = (uint32_t)fd;
	info.cgroup.order = BPF_CGROUP_ITER_DESCENDANTS_PRE;
	opts.link_info = &info;
	opts.link_info_len = sizeof(info);
	link = bpf_program__attach_iter(p, &opts);
	close(fd);
	if (!link)
		return fail(errno, "attach %s to %s", prog, dir);
	o->links[i] = link;
	return 0;
}

HOSA_API int hosa_iter_read(int h, const char *prog, void *buf, size_t len)
{
	struct obj *o = get_obj(h);
	struct bpf_program *p;
	size_t got = 0;
	int i, fd, err = 0;

	if (!o)
		return fail(EBADF, "read iterator %s: no such object handle %d", prog, h);
	p = find_prog(o, prog);
	i = p ? prog_index(o, p) : -1;
	if (i < 0 || !o->links[i])
		return fail(ENOENT, "read iterator %s: not attached", prog);
	if ((fd = serve_iter(h, prog, buf, len)) >= 0)
		return fd;
	fd = bpf_iter_create(bpf_link__fd(o->links[i]));
	if (fd < 0)
		return fail(errno, "read iterator %s", prog);
	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = errno;
			break;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	return err ? fail(err, "read iterator %s", prog) : (int)got;
}

static struct readset *get_readset(int r)
{
	if (r < 0 || r >= MAX_READSETS || !readsets[r].used)
		return NULL;
	return &readsets[r];
}

HOSA_API int hosa_readset_open(void)
{
	int r;

	for (r = 0; r < MAX_READSETS && readsets[r].used; r++)
		;
	if (r == MAX_READSETS)
		return fail(EMFILE, "open read set: %d already open", MAX_READSETS);
	memset(&readsets[r], 0, sizeof(readsets[r]));
	readsets[r].used = true;
	readset_opened[r]++;
	return r;
}

HOSA_API int hosa_readset_add(int r, const char *path)
{
	struct readset *rs = get_readset(r);
	bool locked;
	int fd;

	if (!rs)
		return fail(EBADF, "add %s to read set: no such set %d", path, r);
	if (rs->n == MAX_READSET_FILES)
		return fail(EMFILE, "add %s to read set: %d files already", path, MAX_READSET_FILES);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(errno, "open %s", path);
	/* The sampler's thread may be reading the set's descriptors. */
	lock_if_sampling(&locked);
	if (rs->n == rs->cap) {
		int cap = rs->cap ? rs->cap * 2 : 16;
		int *fds = realloc(rs->fds, (size_t)cap * sizeof(*fds));

		if (!fds) {
			unlock_if(locked);
			close(fd);
			return fail(ENOMEM, "add %s to read set: no memory for %d files", path, cap);
		}
		rs->fds = fds;
		rs->cap = cap;
	}
	rs->fds[rs->n] = fd;
	fd = rs->n++;
	unlock_if(locked);
	return fd;
}

HOSA_API int hosa_readset_read(int r, void *buf, const uint32_t *offsets, const uint32_t *caps,
			       int32_t *lens)
{
	struct readset *rs = get_readset(r);
	bool locked;
	int i;

	if (!rs)
		return fail(EBADF, "read read set: no such set %d", r);
	i = serve_readset(r, rs, buf, offsets, caps, lens);
	if (i >= 0)
		return i;
	lock_if_sampling(&locked);
	for (i = 0; i < rs->n; i++) {
		char *at = (char *)buf + offsets[i];
		size_t got = 0;

		/* A seq_file hands out at most its buffer (a page or more) per read: loop
		 * to the end. It stops short of the room asked only at the end or when
		 * the next record does not fit what is left of that buffer; a read that
		 * comes back short and under SHORT_READ_END bytes is therefore the end
		 * (records are lines, far shorter): no second pread(2) that returns 0
		 * (one system call per file per tick, half of them). */
		while (got < caps[i]) {
			size_t room = caps[i] - got;
			ssize_t n = pread(rs->fds[i], at + got, room, (off_t)got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				if (n < 0 && got == 0)
					got = (size_t)-errno;
				break;
			}
			got += (size_t)n;
			if ((size_t)n < room && n < SHORT_READ_END)
				break;
		}
		lens[i] = (int32_t)got;
	}
	unlock_if(locked);
	return rs->n;
}

HOSA_API int hosa_readset_close(int r)
{
	struct readset *rs = get_readset(r);
	bool locked;
	int i;

	if (!rs)
		return fail(EBADF, "close read set: no such set %d", r);
	lock_if_sampling(&locked);
	sampled_forget(1, r, -1);
	for (i = 0; i < rs->n; i++)
		close(rs->fds[i]);
	free(rs->fds);
	memset(rs, 0, sizeof(*rs));
	unlock_if(locked);
	return 0;
}

/* Breadth-first, the output doubles as the queue: each entry is a path
 * relative to root starting with "/", ended by '\n'; an entry is expanded
 * (its subdirectories appended) when the cursor reaches it. */
HOSA_API int64_t hosa_list_dirs(const char *root, const char *under, int max_depth, int max_count, char *buf,
				size_t len)
{
	size_t rootlen = strlen(root), out = 0, cursor = 0;
	char path[4096];
	int count = 0, depth;
	bool first = true;
	const char *p;

	if (rootlen >= sizeof(path))
		return fail(ENAMETOOLONG, "list %s: path too long", root);
	memcpy(path, root, rootlen);
	/* The walk's own root is expanded first; it is not listed unless it is a subdirectory (under). */
	for (;;) {
		const char *rel;
		size_t rel_len;
		DIR *d;
		struct dirent *e;

		if (first) {
			rel = under;
			rel_len = strlen(under);
		} else if (cursor < out) {
			rel = buf + cursor;
			rel_len = (size_t)((char *)memchr(buf + cursor, '\n', out - cursor) - (buf + cursor));
			cursor += rel_len + 1;
		} else {
			break;
		}
		for (depth = 0, p = rel; p < rel + rel_len; p++)
			depth += *p == '/';
		if (depth >= max_depth)
			continue;
		if (rootlen + rel_len + 1 >= sizeof(path))
			continue;
		memcpy(path + rootlen, rel, rel_len);
		path[rootlen + rel_len] = 0;
		d = opendir(path);
		if (!d) {
			if (first)
				return fail(errno, "list %s", path);
			continue; /* gone between two reads: skipped, as readdir would */
		}
		first = false;
		while ((e = readdir(d)) != NULL) {
			size_t nlen, need;
			bool dir = e->d_type == DT_DIR;

			if (e->d_name[0] == '.' && (e->d_name[1] == 0 || (e->d_name[1] == '.' && e->d_name[2] == 0)))
				continue;
			nlen = strlen(e->d_name);
			if (e->d_type == DT_UNKNOWN) {
				struct stat st;

				if (rootlen + rel_len + 1 + nlen + 1 > sizeof(path))
					continue;
				path[rootlen + rel_len] = '/';
				memcpy(path + rootlen + rel_len + 1, e->d_name, nlen + 1);
				dir = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
				path[rootlen + rel_len] = 0;
			}
			if (!dir)
				continue;
			need = rel_len + 1 + nlen + 1;
			if (out + need > len) {
				closedir(d);
				return -ENOSPC;
			}
			memcpy(buf + out, path + rootlen, rel_len);
			buf[out + rel_len] = '/';
			memcpy(buf + out + rel_len + 1, e->d_name, nlen);
			buf[out + need - 1] = '\n';
			out += need;
			if (++count >= max_count) {
				closedir(d);
				return (int64_t)out;
			}
		}
		closedir(d);
	}
	return (int64_t)out;
}

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

HOSA_API int64_t hosa_release_executable_pages(void)
{
	char exe[4096], line[4096 + 128];
	int64_t advised = 0;
	ssize_t n;
	FILE *maps;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return fail(errno, "read /proc/self/exe");
	exe[n] = 0;
	maps = fopen("/proc/self/maps", "re");
	if (!maps)
		return fail(errno, "open /proc/self/maps");
	while (fgets(line, sizeof(line), maps)) {
		unsigned long start, end;
		char perms[5], *path = strchr(line, '/');

		if (!path || sscanf(line, "%lx-%lx %4s", &start, &end, perms) != 3)
			continue;
		path[strcspn(path, "\n")] = 0;
		/* Read-only or executable mappings of the file: clean, reclaimable without I/O. */
		if (strcmp(path, exe) != 0 || perms[1] == 'w')
			continue;
		if (madvise((void *)start, end - start, MADV_PAGEOUT) == 0)
			advised += (int64_t)(end - start);
	}
	fclose(maps);
	return advised;
}

HOSA_API int hosa_obj_program_count(int h)
{
	struct obj *o = get_obj(h);
	struct bpf_program *p;
	int n = 0;

	if (!o)
		return fail(EBADF, "count programs: no such object handle %d", h);
	bpf_object__for_each_program(p, o->bpf)
		n++;
	return n;
}

HOSA_API int hosa_obj_program_name(int h, int i, char *buf, size_t len)
{
	struct obj *o = get_obj(h);
	struct bpf_program *p;
	int k = 0;

	if (!o)
		return fail(EBADF, "name program %d: no such object handle %d", i, h);
	bpf_object__for_each_program(p, o->bpf) {
		if (k == i) {
			snprintf(buf, len, "%s", bpf_program__name(p));
			return i < MAX_PROGS && o->links[i] ? 1 : 0;
		}
		k++;
	}
	return fail(ENOENT, "name program %d: the object has %d", i, k);
}

/* bpf_prog_info of program i of object h into *info; 1 when the program is
 * not loaded (info zeroed), 0 when read, -errno on failure. */
static int program_info(int h, int i, const char *what, struct bpf_prog_info *info)
{
	struct obj *o = get_obj(h);
	uint32_t len = sizeof(*info);
	struct bpf_program *p;
	int k = 0;

	memset(info, 0, sizeof(*info));
	if (!o)
		return fail(EBADF, "read %s of program %d: no such object handle %d", what, i, h);
	bpf_object__for_each_program(p, o->bpf) {
		if (k++ != i)
			continue;
		if (bpf_program__fd(p) < 0)
			return 1;
		if (bpf_obj_get_info_by_fd(bpf_program__fd(p), info, &len))
			return fail(errno, "read %s of %s", what, bpf_program__name(p));
		return 0;
	}
	return fail(ENOENT, "read %s of program %d: the object has %d", what, i, k);
}

HOSA_API int hosa_obj_program_stats(int h, int i, uint64_t *run_time_ns, uint64_t *run_count)
{
	struct bpf_prog_info info;
	int rc = program_info(h, i, "stats", &info);

	*run_time_ns = info.run_time_ns;
	*run_count = info.run_cnt;
	return rc < 0 ? rc : 0;
}

/* Runs of program i the kernel skipped because the same program was already
 * running on that CPU (a tracing program interrupted by an interrupt that
 * fires its own tracepoint): events the counters never saw. */
HOSA_API int hosa_obj_program_misses(int h, int i, uint64_t *misses)
{
	struct bpf_prog_info info;
	int rc = program_info(h, i, "misses", &info);

	*misses = info.recursion_misses;
	return rc < 0 ? rc : 0;
}

HOSA_API int hosa_enable_run_stats(void)
{
	int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);

	return fd < 0 ? fail(errno, "enable BPF run-time statistics") : fd;
}

HOSA_API int hosa_close_fd(int fd)
{
	return close(fd) ? fail(errno, "close fd %d", fd) : 0;
}

HOSA_API int hosa_ringbuf_close(int r)
{
	struct ring *rb;

	if (r < 0 || r >= MAX_RINGS || !rings[r].used)
		return fail(EBADF, "close ring: no such ring handle %d", r);
	rb = &rings[r];
	munmap(rb->consumer, rb->consumer_len);
	munmap(rb->producer, rb->producer_len);
	memset(rb, 0, sizeof(*rb));
	return 0;
}

HOSA_API int hosa_obj_close(int h)
{
	struct obj *o = get_obj(h);
	bool locked;
	int i;

	if (!o)
		return fail(EBADF, "close: no such object handle %d", h);
	lock_if_sampling(&locked);
	sampled_forget(0, -1, h);
	unlock_if(locked);
	for (i = 0; i < MAX_RINGS; i++)
		if (rings[i].used && rings[i].obj == h)
			hosa_ringbuf_close(i);
	for (i = 0; i < MAX_PROGS; i++)
		if (o->links[i])
			bpf_link__destroy(o->links[i]);
	/* Detach only if our program is still the one attached (XDP_FLAGS_REPLACE). */
	for (i = 0; i < MAX_XDP; i++) {
		struct xdp_attachment *x = &o->xdp[i];
		LIBBPF_OPTS(bpf_xdp_attach_opts, xopts, .old_prog_fd = x->prog_fd);
		if (x->ifindex)
			bpf_xdp_detach(x->ifindex, x->flags | XDP_FLAGS_REPLACE, &xopts);
	}
	bpf_object__close(o->bpf);
	free(o->elf);
	checked_fd = -1;
	memset(o, 0, sizeof(*o));
	return 0;
}

HOSA_API int hosa_obj_map_fd(int h, const char *map)
{
	struct obj *o = get_obj(h);
	int fd;

	begin();
	if (!o)
		return fail(EBADF, "find map %s: no such object handle %d", map, h);
	fd = bpf_object__find_map_fd_by_name(o->bpf, map);
	return fd < 0 ? fail(ENOENT, "find map %s: not in the object or not loaded", map) : fd;
}

HOSA_API int hosa_obj_prog_fd(int h, const char *prog)
{
	struct obj *o = get_obj(h);
	struct bpf_program *p;
	int fd;

	begin();
	if (!o)
		return fail(EBADF, "find program %s: no such object handle %d", prog, h);
	p = find_prog(o, prog);
	if (!p)
		return fail(ENOENT, "find program %s: not in the object", prog);
	fd = bpf_program__fd(p);
	return fd < 0 ? fail(EINVAL, "find program %s: not loaded", prog) : fd;
}

HOSA_API int hosa_map_lookup(int fd, const void *key, void *value)
{
	if (bpf_map_lookup_elem(fd, key, value))
		return errno == ENOENT ? -ENOENT : fail(errno, "look up map fd %d", fd);
	return 0;
}

HOSA_API int hosa_map_update(int fd, const void *key, const void *value, uint64_t flags)
{
	if (bpf_map_update_elem(fd, key, value, flags))
		return fail(errno, "update map fd %d", fd);
	return 0;
}

HOSA_API int hosa_map_delete(int fd, const void *key)
{
	if (bpf_map_delete_elem(fd, key))
		return errno == ENOENT ? -ENOENT : fail(errno, "delete from map fd %d", fd);
	return 0;
}

static int map_info(int fd, struct bpf_map_info *info)
{
	uint32_t len = sizeof(*info);

	memset(info, 0, sizeof(*info));
	if (bpf_obj_get_info_by_fd(fd, info, &len))
		return fail(errno, "read info of map fd %d", fd);
	return 0;
}

HOSA_API int hosa_map_sizes(int fd, uint32_t *key_size, uint32_t *value_size)
{
	struct bpf_map_info info;
	int err = map_info(fd, &info);

	if (err)
		return err;
	if (key_size)
		*key_size = info.key_size;
	if (value_size)
		*value_size = info.value_size;
	return 0;
}

HOSA_API int hosa_percpu_sum(int fd, const void *key, uint64_t *out, uint32_t words)
{
	int cpus = libbpf_num_possible_cpus(), cpu;
	size_t stride = (size_t)words * 8;
	uint64_t *v;
	uint32_t w;

	if (serve_percpu(fd, key, out, words) == 0)
		return 0;
	if (cpus < 0)
		return fail(-cpus, "count possible CPUs");
	v = grow_scratch(stride * cpus);
	if (!v)
		return fail(ENOMEM, "read per-CPU map fd %d", fd);
	/* The kernel checks nothing about words: a wrong size would overrun v. */
	{
		if (fd != checked_fd || words != checked_words) {
			uint32_t vs;
			int err = hosa_map_sizes(fd, NULL, &vs);
			if (err)
				return err;
			if (vs != stride)
				return fail(EINVAL, "read per-CPU map fd %d: value is %u bytes, not %u u64",
					    fd, vs, words);
			checked_fd = fd;
			checked_words = words;
		}
	}
	if (bpf_map_lookup_elem(fd, key, v))
		return errno == ENOENT ? -ENOENT : fail(errno, "read per-CPU map fd %d", fd);
	memset(out, 0, stride);
	for (cpu = 0; cpu < cpus; cpu++)
		for (w = 0; w < words; w++)
			out[w] += v[(size_t)cpu * words + w];
	return 0;
}

#define DUMP_CHUNK 256

HOSA_API int hosa_percpu_hash_dump(int fd, void *keys, uint64_t *values, uint32_t max_entries,
				   uint32_t words, int reset)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	int cpus = libbpf_num_possible_cpus(), cpu;
	size_t stride = (size_t)words * 8, entry = stride * (cpus > 0 ? cpus : 1);
	struct bpf_map_info info;
	uint64_t token = 0;
	bool first = true, done = false;
	uint32_t n = 0, w, i;
	unsigned char *v;
	int err;

	if (cpus < 0)
		return fail(-cpus, "count possible CPUs");
	err = map_info(fd, &info);
	if (err)
		return err;
	if (info.value_size != stride)
		return fail(EINVAL, "dump per-CPU map fd %d: value is %u bytes, not %u u64", fd,
			    info.value_size, words);
	v = grow_scratch(entry * DUMP_CHUNK);
	if (!v)
		return fail(ENOMEM, "dump per-CPU map fd %d", fd);
	/* One syscall per chunk (BPF_MAP_LOOKUP_BATCH, Linux 5.6) rather than two per entry. */
	while (!done && n < max_entries) {
		uint32_t want = max_entries - n < DUMP_CHUNK ? max_entries - n : DUMP_CHUNK, got = want;
		unsigned char *k = (unsigned char *)keys + (size_t)n * info.key_size;

		if (reset)
			err = bpf_map_lookup_and_delete_batch(fd, first ? NULL : &token, &token, k, v,
							      &got, &opts);
		else
			err = bpf_map_lookup_batch(fd, first ? NULL : &token, &token, k, v, &got, &opts);
		if (err) {
			if (errno == ENOENT)
				done = true;
			else if (errno == ENOSPC && got == 0 && n > 0)
				/* The next bucket is larger than the room left: stop at a bucket boundary. */
				done = true;
			else if (errno == ENOSPC && got == 0)
				return fail(ENOSPC, "dump per-CPU map fd %d: a hash bucket exceeds %u entries",
					    fd, want);
			else if (errno != ENOSPC)
				return fail(errno, "dump per-CPU map fd %d", fd);
		}
		first = false;
		for (i = 0; i < got; i++) {
			uint64_t *sum = values + (size_t)(n + i) * words;
			const uint64_t *src = (const uint64_t *)(v + (size_t)i * entry);
			memset(sum, 0, stride);
			for (cpu = 0; cpu < cpus; cpu++)
				for (w = 0; w < words; w++)
					sum[w] += src[(size_t)cpu * words + w];
		}
		n += got;
	}
	return (int)n;
}

HOSA_API int hosa_ringbuf_open(int h, const char *map)
{
	long page = sysconf(_SC_PAGESIZE);
	struct bpf_map_info info;
	struct ring *rb;
	int fd, r, err;

	begin();
	fd = hosa_obj_map_fd(h, map);
	if (fd < 0)
		return fd;
	err = map_info(fd, &info);
	if (err)
		return err;
	if (info.type != BPF_MAP_TYPE_RINGBUF)
		return fail(EINVAL, "open ring %s: not a ring buffer map", map);
	for (r = 0; r < MAX_RINGS && rings[r].used; r++)
		;
	if (r == MAX_RINGS)
		return fail(EMFILE, "open ring %s: %d rings already open", map, MAX_RINGS);
	rb = &rings[r];
	rb->consumer_len = page;
	rb->consumer = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (rb->consumer == MAP_FAILED)
		return fail(errno, "map consumer page of ring %s", map);
	/* The data area is mapped twice back to back, so a record that wraps reads
	 * contiguously (kernel/bpf/ringbuf.c). */
	rb->producer_len = page + 2 * (size_t)info.max_entries;
	rb->producer = mmap(NULL, rb->producer_len, PROT_READ, MAP_SHARED, fd, page);
	if (rb->producer == MAP_FAILED) {
		err = errno;
		munmap(rb->consumer, page);
		return fail(err, "map data of ring %s", map);
	}
	rb->data = (unsigned char *)rb->producer + page;
	rb->mask = info.max_entries - 1;
	rb->obj = h;
	rb->used = true;
	return r;
}

HOSA_API int hosa_ringbuf_drain(int r, void *buf, size_t len)
{
	struct ring *rb;
	uint64_t cons, prod;
	size_t written = 0;

	if (r < 0 || r >= MAX_RINGS || !rings[r].used)
		return fail(EBADF, "drain ring: no such ring handle %d", r);
	rb = &rings[r];
	cons = __atomic_load_n((uint64_t *)rb->consumer, __ATOMIC_ACQUIRE);
	prod = __atomic_load_n((uint64_t *)rb->producer, __ATOMIC_ACQUIRE);
	while (cons < prod) {
		uint32_t *hdr = (uint32_t *)(rb->data + (cons & rb->mask));
		uint32_t word = __atomic_load_n(hdr, __ATOMIC_ACQUIRE);
		uint32_t rec = word & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
		size_t padded = (rec + 7) & ~(size_t)7;

		if (word & BPF_RINGBUF_BUSY_BIT)
			break;
		if (!(word & BPF_RINGBUF_DISCARD_BIT)) {
			uint32_t head[2] = {rec, 0};
			if (written + 8 + padded > len)
				break;
			memcpy((char *)buf + written, head, 8);
			memcpy((char *)buf + written + 8, hdr + 2, rec);
			memset((char *)buf + written + 8 + rec, 0, padded - rec);
			written += 8 + padded;
		}
		cons += BPF_RINGBUF_HDR_SZ + padded;
		__atomic_store_n((uint64_t *)rb->consumer, cons, __ATOMIC_RELEASE);
	}
	return (int)written;
}

static uint32_t xdp_flags_of(int mode)
{
	return mode == HOSA_XDP_NATIVE ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
}

HOSA_API int hosa_xdp_attach(int h, const char *prog, int ifindex, int mode)
{
	struct obj *o = get_obj(h);
	struct bpf_program *p;
	int fd, got = mode, i, slot = -1;

	begin();
	if (!o)
		return fail(EBADF, "attach XDP %s: no such object handle %d", prog, h);
	if (mode != HOSA_XDP_AUTO && mode != HOSA_XDP_NATIVE && mode != HOSA_XDP_GENERIC)
		return fail(EINVAL, "attach XDP %s: mode %d is not 0, 1 or 2", prog, mode);
	p = find_prog(o, prog);
	if (!p)
		return fail(ENOENT, "attach XDP %s: no such program", prog);
	fd = bpf_program__fd(p);
	if (fd < 0)
		return fail(EINVAL, "attach XDP %s: not loaded", prog);
	for (i = 0; i < MAX_XDP; i++)
		if (o->xdp[i].ifindex == ifindex || (!o->xdp[i].ifindex && slot < 0))
			slot = i;
	if (slot < 0)
		return fail(EMFILE, "attach XDP %s: %d interfaces already", prog, MAX_XDP);
	if (mode == HOSA_XDP_AUTO) {
		got = HOSA_XDP_NATIVE;
		if (bpf_xdp_attach(ifindex, fd, XDP_FLAGS_DRV_MODE, NULL)) {
			if (errno != EOPNOTSUPP && errno != EINVAL)
				return fail(errno, "attach XDP %s to ifindex %d in native mode", prog, ifindex);
			got = HOSA_XDP_GENERIC;
		}
	}
	if (got == HOSA_XDP_GENERIC || mode == HOSA_XDP_NATIVE) {
		if (bpf_xdp_attach(ifindex, fd, xdp_flags_of(got), NULL))
			return fail(errno, "attach XDP %s to ifindex %d in %s mode", prog, ifindex,
				    got == HOSA_XDP_NATIVE ? "native" : "generic");
	}
	o->xdp[slot].ifindex = ifindex;
	o->xdp[slot].prog_fd = fd;
	o->xdp[slot].flags = xdp_flags_of(got);
	return got;
}

HOSA_API int hosa_xdp_query(int ifindex)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);

	if (bpf_xdp_query(ifindex, 0, &q))
		return fail(errno, "query XDP on ifindex %d", ifindex);
	switch (q.attach_mode) {
	case XDP_ATTACHED_NONE:
		return 0;
	case XDP_ATTACHED_DRV:
		return HOSA_XDP_NATIVE;
	case XDP_ATTACHED_SKB:
		return HOSA_XDP_GENERIC;
	default:
		return fail(EEXIST, "query XDP on ifindex %d: attached in mode %u", ifindex,
			    q.attach_mode);
	}
}

HOSA_API int hosa_xdp_detach(int ifindex, int mode)
{
	int h, i;

	if (mode == HOSA_XDP_AUTO) {
		mode = hosa_xdp_query(ifindex);
		if (mode <= 0)
			return mode;
	}
	if (bpf_xdp_detach(ifindex, xdp_flags_of(mode), NULL))
		return fail(errno, "detach XDP from ifindex %d", ifindex);
	for (h = 0; h < MAX_OBJS; h++)
		for (i = 0; objs[h].used && i < MAX_XDP; i++)
			if (objs[h].xdp[i].ifindex == ifindex)
				memset(&objs[h].xdp[i], 0, sizeof(objs[h].xdp[i]));
	return 0;
}

/* The sampler: one thread that takes the tick's reads on an absolute
 * schedule into a ring of snapshots, and wakes JavaScript through a pipe
 * when a batch is ready or a tripwire fires (see hosa.h). The ring's slots
 * are owned by the thread until produced and by JavaScript until consumed:
 * `produced` and `consumed` (atomics) hand them over, so a slot being read
 * is never written. `sampler_mu` guards the registrations and the files and
 * objects they name (closing a set or an object takes it). */
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <math.h>
#include <linux/futex.h>
#include <sys/syscall.h>

#define MAX_SAMPLED 48
#define MAX_RING 256

enum { SAMPLED_NONE, SAMPLED_READSET, SAMPLED_PERCPU, SAMPLED_ITER };

struct sampled {
	int kind;
	int handle;	    /* read set or object */
	uint32_t opened;    /* the read set's open generation */
	int n;		    /* read set: slots */
	uint32_t *caps;	    /* read set: room per slot */
	uint64_t min_ns;    /* read set, iterator: read at most this often */
	uint64_t last_ns;   /* when it was last read, the snapshot's scheduled time (0: never) */
	double rate;	    /* tripwire: units per second (0: none; < 0: any change of the bytes) */
	uint64_t prev_hash; /* read set, rate < 0: the bytes' hash at the last read (0: none yet) */
	double *prev;	    /* tripwire: the slots' (read set) or cgroups' (iterator) last values */
	uint64_t *prev_ids; /* iterator: the last pass's ids */
	int prev_n;
	uint64_t prev_ns;
	int map_fd;	    /* per-CPU counters */
	unsigned char key[16];
	uint32_t key_size, words;
	char prog[64];	    /* iterator program */
	size_t room;	    /* iterator: bytes read at most (doubled when a pass fills it) */
	char *gate;	    /* read set, rate < 0: directories, NUL-separated (hosa_sampler_gate) */
	int ngate;
	int64_t *gate_links; /* their link counts at the last look (-1: could not stat) */
	uint64_t *trip_ids; /* iterator: only these ids (sorted) trip (hosa_sampler_iter_watch); NULL: any */
	int trip_n;
};

struct snap_entry {
	int kind, handle, n;
	uint32_t opened;
	char prog[64];
	unsigned char key[16];
	int map_fd;
	uint32_t key_size, words;
	int truncated;	/* iterator: the pass filled its room */
	size_t off, len;
};

struct snapshot {
	uint64_t t_ns, sched_ns;
	int nent;
	struct snap_entry ents[MAX_SAMPLED];
	unsigned char *arena;
	size_t cap, used;
};

static pthread_mutex_t sampler_mu = PTHREAD_MUTEX_INITIALIZER;
static struct sampled sampled[MAX_SAMPLED];
static struct snapshot ring[MAX_RING];
static int ring_n;
static uint64_t produced, consumed, skipped, tripped;
static int signalled;
static int serving = -1; /* the ring slot JavaScript is processing, -1: none */
static pthread_t sampler_thread;
/* The registrations in use, in slot order (their kinds are far apart in `sampled`: a
 * snapshot that looked at every slot's kind touched 48 cold cache lines per tick). */
static int sampled_live[MAX_SAMPLED];
/* The danger watch's scan stretched at calm (hosa_sampler_stretch): the registrations read at
 * most every stretch_min_ns are read at most every stretch_max_ns, sooner when the node's
 * MemAvailable (line of read set stretch_r's file stretch_slot) fell by stretch_fall bytes
 * per second of stretch_min_ns since they were last read. */
static uint64_t stretch_min_ns, stretch_max_ns;
static int stretch_r = -1;
static uint32_t stretch_slot;
static double stretch_fall;
static uint64_t stretch_last_ns; /* when the scan's registrations were last read (the schedule's time) */
static double stretch_avail = NAN; /* MemAvailable then, bytes */

static int sampled_live_n;
static bool sampler_on;	      /* a thread was started and not joined */
static int sampler_alive;     /* the thread runs (atomic) */
static int sampler_quit;      /* asks it to end (atomic) */
static uint64_t sampler_period_ns;
static uint32_t sampler_batch; /* atomic: changed while it runs */
static int wake_fds[2] = {-1, -1};
static void *thread_scratch;
static size_t thread_scratch_len;
static unsigned char *thread_iter;
static size_t thread_iter_len;

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

HOSA_API int64_t hosa_monotonic_ns(void)
{
	return (int64_t)mono_ns();
}

static bool sampler_running(void)
{
	return __atomic_load_n(&sampler_alive, __ATOMIC_ACQUIRE) != 0;
}

static void lock_if_sampling(bool *locked)
{
	*locked = sampler_on;
	if (*locked)
		pthread_mutex_lock(&sampler_mu);
}

static void unlock_if(bool locked)
{
	if (locked)
		pthread_mutex_unlock(&sampler_mu);
}

/* Rebuild sampled_live after a registration came or went (with the lock held or no thread). */
static void sampled_relist(void)
{
	int i, n = 0;

	for (i = 0; i < MAX_SAMPLED; i++)
		if (sampled[i].kind != SAMPLED_NONE)
			sampled_live[n++] = i;
	sampled_live_n = n;
}

static void sampled_free(struct sampled *s)
{
	free(s->caps);
	free(s->prev);
	free(s->prev_ids);
	free(s->gate);
	free(s->gate_links);
	free(s->trip_ids);
	memset(s, 0, sizeof(*s));
	sampled_relist();
}

/* Forget every registration naming read set r or object h (called with the lock held or no thread). */
static void sampled_forget(int kind_set, int r, int h)
{
	int i;

	for (i = 0; i < MAX_SAMPLED; i++) {
		struct sampled *s = &sampled[i];
		if (s->kind == SAMPLED_NONE)
			continue;
		if ((kind_set && s->kind == SAMPLED_READSET && s->handle == r) ||
		    (!kind_set && s->kind != SAMPLED_READSET && s->handle == h))
			sampled_free(s);
	}
}

static void *arena_room(struct snapshot *sn, size_t more)
{
	if (sn->used + more > sn->cap) {
		size_t cap = sn->cap ? sn->cap : 4096;
		unsigned char *p;
		while (cap < sn->used + more)
			cap *= 2;
		p = realloc(sn->arena, cap);
		if (!p)
			return NULL;
		sn->arena = p;
		sn->cap = cap;
	}
	return sn->arena + sn->used;
}

/* The leading decimal number of b[0..n) (blanks skipped); NaN when none. */
static double leading_number(const unsigned char *b, int32_t n)
{
	double v = 0;
	int32_t i = 0, digits = 0;

	while (i < n && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t'))
		i++;
	for (; i < n && b[i] >= '0' && b[i] <= '9'; i++, digits++)
		v = v * 10 + (b[i] - '0');
	return digits ? v : NAN;
}

/* A directory's link count (cgroupfs: 2 + its subdirectories); -1 when it cannot be had. */
static int64_t link_count(const char *dir)
{
	struct stat st;

	return stat(dir, &st) == 0 ? (int64_t)st.st_nlink : -1;
}

/* Whether a gated change-wake should fire: no gate, or a gate directory's link count moved since the last
 * look (the counts are taken anew). */
static int gate_moved(struct sampled *s)
{
	const char *d = s->gate;
	int i, moved = 0;

	if (s->ngate == 0)
		return 1;
	for (i = 0; i < s->ngate; i++, d += strlen(d) + 1) {
		int64_t n = link_count(d);
		if (n != s->gate_links[i])
			moved = 1;
		s->gate_links[i] = n;
	}
	return moved;
}

/* Whether a rise of dv over dt_ns trips a tripwire of rate units a second: at that rate over the
 * time since the last read, or, for a registration read at most every min_ns, that rate's worth of
 * one such interval (a scan stretched at calm spans several: a growth that started within the
 * last one is not diluted over the others, as the danger watch's own rule, cgroup-watch.ts). */
static int rose(double dv, uint64_t dt_ns, double rate, uint64_t min_ns)
{
	uint64_t over = min_ns && min_ns < dt_ns ? min_ns : dt_ns;

	return dt_ns > 0 && dv >= rate * ((double)over / 1e9);
}

/* Read set s into the snapshot as [caps u32 x n][lens i32 x n][bytes]; whether a slot's usage rose past s->rate. */
static int snap_readset(struct snapshot *sn, struct snap_entry *e, struct sampled *s, uint64_t now)
{
	struct readset *rs = get_readset(s->handle);
	size_t room = 0, head;
	uint32_t *caps;
	int32_t *lens;
	unsigned char *bytes;
	int i, trip = 0;

	if (!rs || rs->n != s->n)
		return -1;
	for (i = 0; i < s->n; i++)
		room += s->caps[i];
	head = (size_t)s->n * 8;
	if (!arena_room(sn, head + room))
		return -1;
	e->off = sn->used;
	caps = (uint32_t *)(sn->arena + e->off);
	lens = (int32_t *)(caps + s->n);
	bytes = sn->arena + e->off + head;
	memcpy(caps, s->caps, (size_t)s->n * 4);
	for (i = 0; i < s->n; i++) {
		size_t got = 0;
		/* As hosa_readset_read, compacted: each file where the last one ended. */
		while (got < caps[i]) {
			size_t r = caps[i] - got;
			ssize_t k = pread(rs->fds[i], bytes + got, r, (off_t)got);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				if (k < 0 && got == 0)
					got = (size_t)-errno;
				break;
			}
			got += (size_t)k;
			if ((size_t)k < r && k < SHORT_READ_END)
				break;
		}
		lens[i] = (int32_t)got;
		if (s->rate > 0) {
			double v = lens[i] > 0 ? leading_number(bytes, lens[i]) : NAN;
			if (s->prev_ns && now > s->prev_ns && !isnan(v) && !isnan(s->prev[i]) &&
			    rose(v - s->prev[i], now - s->prev_ns, s->rate, s->min_ns))
				trip = 1;
			s->prev[i] = v;
		}
		if (lens[i] > 0)
			bytes += lens[i];
	}
	if (s->rate > 0)
		s->prev_ns = now;
	e->len = (size_t)(bytes - (sn->arena + e->off));
	if (s->rate < 0) {
		/* FNV-1a over the lengths and the bytes: any change wakes (a cgroup made or removed).
		 * e->len counts the caps and lengths ahead of the bytes: hashing that much from
		 * lens on ran past the entry into what the slot held a ring ago, which changed
		 * at every snapshot and woke JavaScript at every tick. */
		uint64_t h = 1469598103934665603ull;
		const unsigned char *b = (const unsigned char *)lens;
		size_t k, n = (size_t)s->n * 4 + (e->len - head);
		for (k = 0; k < n; k++)
			h = (h ^ b[k]) * 1099511628211ull;
		h |= 1;
		if (s->prev_hash && h != s->prev_hash && gate_moved(s))
			trip = 1;
		s->prev_hash = h;
	}
	sn->used = e->off + e->len;
	e->kind = SAMPLED_READSET;
	e->handle = s->handle;
	e->opened = s->opened;
	e->n = s->n;
	s->last_ns = now;
	return trip;
}

static int snap_percpu(struct snapshot *sn, struct snap_entry *e, struct sampled *s)
{
	int cpus = libbpf_num_possible_cpus(), cpu;
	size_t stride = (size_t)s->words * 8;
	uint64_t *v, *out;
	uint32_t w;

	if (cpus <= 0)
		return -1;
	if (stride * cpus > thread_scratch_len) {
		void *p = realloc(thread_scratch, stride * cpus);
		if (!p)
			return -1;
		thread_scratch = p;
		thread_scratch_len = stride * cpus;
	}
	v = thread_scratch;
	if (bpf_map_lookup_elem(s->map_fd, s->key, v))
		return -1;
	out = arena_room(sn, stride);
	if (!out)
		return -1;
	memset(out, 0, stride);
	for (cpu = 0; cpu < cpus; cpu++)
		for (w = 0; w < s->words; w++)
			out[w] += v[(size_t)cpu * s->words + w];
	e->off = sn->used;
	e->len = stride;
	sn->used += stride;
	e->kind = SAMPLED_PERCPU;
	e->handle = s->handle;
	e->map_fd = s->map_fd;
	memcpy(e->key, s->key, sizeof(e->key));
	e->key_size = s->key_size;
	e->words = s->words;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The iterator's pass: records of (u64 id, u64 value); tripwire when a watched cgroup's value rose past s->rate. */
static int snap_iter(struct snapshot *sn, struct snap_entry *e, struct sampled *s, uint64_t now)
{
	struct obj *o = get_obj(s->handle);
	struct bpf_program *p = o ? find_prog(o, s->prog) : NULL;
	int i = p ? prog_index(o, p) : -1, fd, trip = 0, n, j, k;
	size_t got = 0;
	uint64_t *rec;

	if (i < 0 || !o->links[i])
		return -1;
	if (thread_iter_len < s->room) {
		void *q = realloc(thread_iter, s->room);
		if (!q)
			return -1;
		thread_iter = q;
		thread_iter_len = s->room;
	}
	fd = bpf_iter_create(bpf_link__fd(o->links[i]));
	if (fd < 0)
		return -1;
	while (got < s->room) {
		ssize_t r = read(fd, thread_iter + got, s->room - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	e->truncated = got >= s->room;
	if (e->truncated)
		s->room *= 2;
	if (!arena_room(sn, got))
		return -1;
	e->off = sn->used;
	e->len = got;
	memcpy(sn->arena + e->off, thread_iter, got);
	sn->used += got;
	e->kind = SAMPLED_ITER;
	e->handle = s->handle;
	snprintf(e->prog, sizeof(e->prog), "%s", s->prog);
	s->last_ns = now;
	if (s->rate > 0 && !e->truncated) {
		/* The same walk order from one pass to the next: match by index, check the id, else search. */
		n = (int)(got / 16);
		rec = (uint64_t *)thread_iter;
		/* A cgroup the watch does not watch is not looked up in the last pass at all (most of the
		 * hierarchy, for an agent scoped to one service); the first rise found is enough. */
		for (j = 0; !trip && j < n && s->prev_ns && now > s->prev_ns; j++) {
			uint64_t id = rec[2 * j];
			int at = -1;
			if (s->trip_ids && !bsearch(&id, s->trip_ids, (size_t)s->trip_n, 8, cmp_u64))
				continue;
			if (j < s->prev_n && s->prev_ids[j] == id)
				at = j;
			for (k = 0; at < 0 && k < s->prev_n; k++)
				if (s->prev_ids[k] == id)
					at = k;
			if (at >= 0 && rose((double)rec[2 * j + 1] - s->prev[at], now - s->prev_ns, s->rate, s->min_ns))
				trip = 1;
		}
		if (n > s->prev_n) {
			double *pv = realloc(s->prev, (size_t)n * sizeof(double));
			uint64_t *pi = pv ? realloc(s->prev_ids, (size_t)n * 8) : NULL;
			if (pv)
				s->prev = pv;
			if (!pi) {
				s->prev_n = 0;
				return trip;
			}
			s->prev_ids = pi;
		}
		for (j = 0; j < n; j++) {
			s->prev_ids[j] = rec[2 * j];
			s->prev[j] = (double)rec[2 * j + 1];
		}
		s->prev_n = n;
		s->prev_ns = now;
	}
	return trip;
}

/* MemAvailable in bytes from the stretch's read set in snapshot sn; NAN when not there. */
static double snap_avail(const struct snapshot *sn)
{
	static const char key[] = "MemAvailable:";
	const unsigned char *b, *hit;
	const int32_t *lens;
	int i;
	uint32_t k;

	for (i = 0; i < sn->nent; i++) {
		const struct snap_entry *e = &sn->ents[i];
		if (e->kind != SAMPLED_READSET || e->handle != stretch_r || stretch_slot >= (uint32_t)e->n)
			continue;
		lens = (const int32_t *)(sn->arena + e->off + (size_t)e->n * 4);
		b = (const unsigned char *)(lens + e->n);
		for (k = 0; k < stretch_slot; k++)
			if (lens[k] > 0)
				b += lens[k];
		if (lens[stretch_slot] <= 0)
			return NAN;
		hit = memmem(b, (size_t)lens[stretch_slot], key, sizeof(key) - 1);
		if (!hit)
			return NAN;
		hit += sizeof(key) - 1;
		return leading_number(hit, (int32_t)(b + lens[stretch_slot] - hit)) * 1024.0;
	}
	return NAN;
}

/* Whether the stretched scan is due in snapshot sn, scheduled at `at` (what else it holds already taken). */
static int stretch_due(const struct snapshot *sn, uint64_t at)
{
	double a;

	if (!stretch_last_ns || at < stretch_last_ns || at - stretch_last_ns >= stretch_max_ns)
		return 1;
	a = snap_avail(sn);
	/* Unknown now or then: read, as without the stretch. */
	if (isnan(a) || isnan(stretch_avail))
		return 1;
	return rose(stretch_avail - a, at - stretch_last_ns, stretch_fall, stretch_min_ns);
}

/* Registration s into snapshot sn as its next entry; its tripwire (1), none (0), or not taken (-1). */
static int take_one(struct snapshot *sn, struct sampled *s, uint64_t now, uint64_t sched)
{
	struct snap_entry *e = &sn->ents[sn->nent];
	int r = -1;

	/* On the schedule's times, not the wake's: a 100 ms registration at a 100 ms period is in
	 * every snapshot, not skipped whenever this wake came a little earlier after the last than
	 * that one after its own (it was in about six snapshots in ten). */
	if (s->min_ns && s->last_ns && sched >= s->last_ns && sched - s->last_ns < s->min_ns)
		return -1;
	memset(e, 0, sizeof(*e));
	if (s->kind == SAMPLED_READSET) {
		r = snap_readset(sn, e, s, now);
	} else if (s->kind == SAMPLED_PERCPU) {
		r = snap_percpu(sn, e, s);
	} else if (s->kind == SAMPLED_ITER) {
		r = snap_iter(sn, e, s, now);
	}
	if (r < 0)
		return -1;
	s->last_ns = sched;
	sn->nent++;
	return r;
}

/* One snapshot into slot sn; returns whether a tripwire fired. */
static int take_snapshot(struct snapshot *sn, uint64_t sched)
{
	uint64_t now = mono_ns();
	unsigned char taken[MAX_SAMPLED];
	int i, r, trip = 0, stretched = 0, due;

	sn->t_ns = now;
	sn->sched_ns = sched;
	sn->nent = 0;
	sn->used = 0;
	memset(taken, 0, sizeof(taken));
	for (i = 0; i < sampled_live_n; i++) {
		struct sampled *s = &sampled[sampled_live[i]];
		if (stretch_max_ns && s->min_ns == stretch_min_ns)
			continue;
		r = take_one(sn, s, now, sched);
		if (r >= 0)
			trip |= r;
	}
	if (!stretch_max_ns)
		return trip;
	/* The scan stretched: due by the stretch, by the MemAvailable this snapshot holds, or with a
	 * tripwire's wake. Not due, a change-wake set of the scan (the kernel's count of cgroups: one
	 * small file) is still looked at, and kept with the rest of the scan only when it fires: a
	 * cgroup made where the watch looks wakes JavaScript at the next snapshot, as unstretched. */
	due = trip || stretch_due(sn, sched);
	for (i = 0; !due && i < sampled_live_n; i++) {
		struct sampled *s = &sampled[sampled_live[i]];
		size_t used = sn->used;
		uint64_t last = s->last_ns;
		if (s->min_ns != stretch_min_ns || s->kind != SAMPLED_READSET || s->rate >= 0)
			continue;
		r = take_one(sn, s, now, sched);
		if (r > 0) {
			taken[sampled_live[i]] = 1;
			trip = due = stretched = 1;
		} else if (r == 0) {
			sn->nent--;
			sn->used = used;
			s->last_ns = last;
		}
	}
	for (i = 0; due && i < sampled_live_n; i++) {
		struct sampled *s = &sampled[sampled_live[i]];
		if (s->min_ns != stretch_min_ns || taken[sampled_live[i]])
			continue;
		r = take_one(sn, s, now, sched);
		if (r >= 0) {
			trip |= r;
			stretched = 1;
		}
	}
	if (stretched) {
		stretch_last_ns = sched;
		stretch_avail = snap_avail(sn);
	}
	return trip;
}

static void wake_js(void)
{
	char b = 1;

	if (__atomic_exchange_n(&signalled, 1, __ATOMIC_ACQ_REL))
		return;
	/* The pipe holds at most a few bytes: a full pipe already wakes. */
	if (write(wake_fds[1], &b, 1) < 0) {
	}
}

/* Sleep until the absolute CLOCK_MONOTONIC time at, or until hosa_sampler_stop sets
 * sampler_quit and wakes the futex on it: one system call per sleep (a condition
 * variable's timed wait made two, its wake-up on the way out included). */
static void sleep_until(const struct timespec *at)
{
	while (!__atomic_load_n(&sampler_quit, __ATOMIC_ACQUIRE)) {
		long r = syscall(SYS_futex, &sampler_quit, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, 0, at, NULL,
				 FUTEX_BITSET_MATCH_ANY);
		if (r < 0 && errno == ETIMEDOUT)
			return;
	}
}

static void *sampler_main(void *arg)
{
	struct timespec at;
	uint64_t next = mono_ns();

	(void)arg;
	pthread_setname_np(pthread_self(), "hosa-sampler");
	while (!__atomic_load_n(&sampler_quit, __ATOMIC_ACQUIRE)) {
		uint64_t period = __atomic_load_n(&sampler_period_ns, __ATOMIC_RELAXED), now, p, c;
		int trip;

		next += period;
		at.tv_sec = (time_t)(next / 1000000000ull);
		at.tv_nsec = (long)(next % 1000000000ull);
		/* An absolute CLOCK_MONOTONIC deadline that hosa_sampler_stop can cut short. */
		sleep_until(&at);
		if (__atomic_load_n(&sampler_quit, __ATOMIC_ACQUIRE))
			break;
		p = __atomic_load_n(&produced, __ATOMIC_RELAXED);
		c = __atomic_load_n(&consumed, __ATOMIC_ACQUIRE);
		now = mono_ns();
		/* Fell behind (a stalled machine): resynchronise rather than burst, on the same grid. */
		if (now > next + period)
			next += (now - next) / period * period;
		if (p - c >= (uint64_t)ring_n) {
			/* Never overwrite what JavaScript has not processed: skip, count, and wake it. */
			__atomic_add_fetch(&skipped, 1, __ATOMIC_RELAXED);
			wake_js();
			continue;
		}
		pthread_mutex_lock(&sampler_mu);
		trip = take_snapshot(&ring[p % (uint64_t)ring_n], next);
		pthread_mutex_unlock(&sampler_mu);
		__atomic_store_n(&produced, p + 1, __ATOMIC_RELEASE);
		if (trip)
			__atomic_add_fetch(&tripped, 1, __ATOMIC_RELAXED);
		c = __atomic_load_n(&consumed, __ATOMIC_ACQUIRE);
		if (trip || p + 1 - c >= __atomic_load_n(&sampler_batch, __ATOMIC_RELAXED))
			wake_js();
	}
	__atomic_store_n(&sampler_alive, 0, __ATOMIC_RELEASE);
	return NULL;
}

HOSA_API int hosa_sampler_start(uint32_t period_us, uint32_t batch, uint32_t ring_slots)
{
	sigset_t all, old;
	int err;

	if (sampler_on)
		return fail(EBUSY, "start sampler: already running");
	if (period_us == 0 || batch == 0 || ring_slots < batch || ring_slots > MAX_RING)
		return fail(EINVAL, "start sampler: period %u us, batch %u, ring %u (at most %d)", period_us,
			    batch, ring_slots, MAX_RING);
	if (pipe2(wake_fds, O_CLOEXEC | O_NONBLOCK))
		return fail(errno, "start sampler: pipe");
	sampler_period_ns = (uint64_t)period_us * 1000;
	sampler_batch = batch;
	ring_n = (int)ring_slots;
	produced = consumed = 0;
	serving = -1;
	signalled = 0;
	sampler_quit = 0;
	sampler_alive = 1;
	/* Signals go to JavaScript's thread, never to this one. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&sampler_thread, NULL, sampler_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		sampler_alive = 0;
		close(wake_fds[0]);
		close(wake_fds[1]);
		wake_fds[0] = wake_fds[1] = -1;
		return fail(err, "start sampler: thread");
	}
	/* Named at once (and again by the thread itself): `top -H`, and tests, tell it apart. */
	pthread_setname_np(sampler_thread, "hosa-sampler");
	sampler_on = true;
	return wake_fds[0];
}

HOSA_API int hosa_sampler_set(uint32_t period_us, uint32_t batch)
{
	if (period_us == 0 || batch == 0 || batch > (uint32_t)(ring_n ? ring_n : MAX_RING))
		return fail(EINVAL, "set sampler: period %u us, batch %u", period_us, batch);
	__atomic_store_n(&sampler_period_ns, (uint64_t)period_us * 1000, __ATOMIC_RELAXED);
	__atomic_store_n(&sampler_batch, batch, __ATOMIC_RELAXED);
	return 0;
}

HOSA_API int hosa_sampler_stretch(uint32_t min_interval_us, uint32_t stretch_us, int r, uint32_t slot,
				  double fall_bytes_per_s)
{
	bool locked;

	if (stretch_us && (min_interval_us == 0 || stretch_us <= min_interval_us || !get_readset(r) ||
			   !(fall_bytes_per_s > 0)))
		return fail(EINVAL, "stretch the scan: every %u us up to %u us, read set %d, %g bytes/s", min_interval_us,
			    stretch_us, r, fall_bytes_per_s);
	lock_if_sampling(&locked);
	stretch_min_ns = stretch_us ? (uint64_t)min_interval_us * 1000 : 0;
	stretch_max_ns = (uint64_t)stretch_us * 1000;
	stretch_r = stretch_us ? r : -1;
	stretch_slot = slot;
	stretch_fall = fall_bytes_per_s;
	stretch_last_ns = 0;
	stretch_avail = NAN;
	unlock_if(locked);
	return 0;
}

HOSA_API int hosa_sampler_stop(void)
{
	int i;

	if (!sampler_on)
		return 0;
	/* Set before the wake: a thread about to sleep sees it, in sleep_until's check or as the futex's value. */
	__atomic_store_n(&sampler_quit, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &sampler_quit, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, NULL, NULL, 0);
	pthread_join(sampler_thread, NULL);
	sampler_on = false;
	/* The reader sees the end of the pipe; the read end is the caller's to close. */
	close(wake_fds[1]);
	wake_fds[0] = wake_fds[1] = -1;
	serving = -1;
	for (i = 0; i < MAX_RING; i++) {
		free(ring[i].arena);
		memset(&ring[i], 0, sizeof(ring[i]));
	}
	free(thread_scratch);
	free(thread_iter);
	thread_scratch = thread_iter = NULL;
	thread_scratch_len = thread_iter_len = 0;
	for (i = 0; i < MAX_SAMPLED; i++)
		if (sampled[i].kind != SAMPLED_NONE) {
			sampled[i].last_ns = 0;
			sampled[i].prev_ns = 0;
			sampled[i].prev_n = 0;
			sampled[i].prev_hash = 0;
		}
	return 0;
}

HOSA_API int hosa_sampler_status(uint64_t *out)
{
	out[0] = sampler_running() ? 1 : 0;
	out[1] = __atomic_load_n(&produced, __ATOMIC_ACQUIRE) - __atomic_load_n(&consumed, __ATOMIC_RELAXED);
	out[2] = __atomic_load_n(&skipped, __ATOMIC_RELAXED);
	out[3] = __atomic_load_n(&tripped, __ATOMIC_RELAXED);
	out[4] = __atomic_load_n(&produced, __ATOMIC_RELAXED);
	return 0;
}

HOSA_API int hosa_sampler_ack(void)
{
	/* The bytes are JavaScript's to read (its reader of the pipe): reading them here would race it. */
	__atomic_store_n(&signalled, 0, __ATOMIC_RELEASE);
	return 0;
}

HOSA_API int hosa_sampler_begin(double *times)
{
	uint64_t c = __atomic_load_n(&consumed, __ATOMIC_RELAXED);
	struct snapshot *sn;

	if (!sampler_on || serving >= 0)
		return fail(EINVAL, "begin snapshot: %s", sampler_on ? "one is already being served" : "no sampler");
	if (__atomic_load_n(&produced, __ATOMIC_ACQUIRE) == c)
		return -EAGAIN;
	serving = (int)(c % (uint64_t)ring_n);
	sn = &ring[serving];
	times[0] = (double)sn->t_ns;
	times[1] = (double)sn->sched_ns;
	return sn->nent;
}

HOSA_API int hosa_sampler_end(void)
{
	if (serving < 0)
		return 0;
	serving = -1;
	__atomic_add_fetch(&consumed, 1, __ATOMIC_RELEASE);
	return 0;
}

HOSA_API int hosa_sampler_discard(void)
{
	int n = 0;

	serving = -1;
	while (__atomic_load_n(&consumed, __ATOMIC_RELAXED) != __atomic_load_n(&produced, __ATOMIC_ACQUIRE)) {
		__atomic_add_fetch(&consumed, 1, __ATOMIC_RELEASE);
		n++;
	}
	return n;
}

static struct sampled *sampled_slot(void)
{
	int i;

	for (i = 0; i < MAX_SAMPLED; i++)
		if (sampled[i].kind == SAMPLED_NONE)
			return &sampled[i];
	return NULL;
}

/* A registration read at most every min_ns starts in step with one of the same interval
 * already taken (the danger watch's scan: its usage set or iterator pass, its pids set and
 * the count of cgroups), so that the snapshots that hold one hold the others, whenever
 * each was registered: JavaScript scans at a snapshot that holds them, and reads none of
 * them live (with the lock held or no thread). */
static uint64_t in_step_with(const struct sampled *self, uint64_t min_ns)
{
	int i;

	for (i = 0; min_ns && i < sampled_live_n; i++) {
		const struct sampled *o = &sampled[sampled_live[i]];
		if (o != self && o->min_ns == min_ns && o->last_ns)
			return o->last_ns;
	}
	return 0;
}

HOSA_API int hosa_sampler_add_readset(int r, const uint32_t *caps, uint32_t min_interval_us, double rate_per_s)
{
	struct readset *rs = get_readset(r);
	struct sampled *s;
	bool locked;
	int ret;

	if (!rs)
		return fail(EBADF, "sample read set: no such set %d", r);
	lock_if_sampling(&locked);
	sampled_forget(1, r, -1);
	s = sampled_slot();
	if (!s) {
		unlock_if(locked);
		return fail(EMFILE, "sample read set: %d registrations already", MAX_SAMPLED);
	}
	s->caps = malloc((size_t)(rs->n ? rs->n : 1) * 4);
	s->prev = malloc((size_t)(rs->n ? rs->n : 1) * sizeof(double));
	if (!s->caps || !s->prev) {
		sampled_free(s);
		unlock_if(locked);
		return fail(ENOMEM, "sample read set %d", r);
	}
	memcpy(s->caps, caps, (size_t)rs->n * 4);
	for (ret = 0; ret < rs->n; ret++)
		s->prev[ret] = NAN;
	s->kind = SAMPLED_READSET;
	sampled_relist();
	s->handle = r;
	s->opened = readset_opened[r];
	s->n = rs->n;
	s->min_ns = (uint64_t)min_interval_us * 1000;
	s->last_ns = in_step_with(s, s->min_ns);
	s->rate = rate_per_s > 0 ? rate_per_s : rate_per_s < 0 ? -1 : 0;
	ret = (int)(s - sampled);
	unlock_if(locked);
	return ret;
}

HOSA_API int hosa_sampler_add_percpu(int h, int map_fd, const void *key, uint32_t key_size, uint32_t words)
{
	struct sampled *s;
	uint32_t vs;
	bool locked;
	int err, ret;

	if (!get_obj(h))
		return fail(EBADF, "sample per-CPU map: no such object handle %d", h);
	if (key_size > 16)
		return fail(EINVAL, "sample per-CPU map: key of %u bytes (at most 16)", key_size);
	err = hosa_map_sizes(map_fd, NULL, &vs);
	if (err)
		return err;
	if (vs != words * 8)
		return fail(EINVAL, "sample per-CPU map fd %d: value is %u bytes, not %u u64", map_fd, vs, words);
	lock_if_sampling(&locked);
	s = sampled_slot();
	if (!s) {
		unlock_if(locked);
		return fail(EMFILE, "sample per-CPU map: %d registrations already", MAX_SAMPLED);
	}
	s->kind = SAMPLED_PERCPU;
	sampled_relist();
	s->handle = h;
	s->map_fd = map_fd;
	memcpy(s->key, key, key_size);
	s->key_size = key_size;
	s->words = words;
	ret = (int)(s - sampled);
	unlock_if(locked);
	return ret;
}

HOSA_API int hosa_sampler_add_iter(int h, const char *prog, uint32_t room, double rate_per_s, uint32_t min_interval_us)
{
	struct sampled *s;
	bool locked;
	int ret;

	if (!get_obj(h))
		return fail(EBADF, "sample iterator %s: no such object handle %d", prog, h);
	if (strlen(prog) >= sizeof(s->prog))
		return fail(EINVAL, "sample iterator %s: name too long", prog);
	lock_if_sampling(&locked);
	s = sampled_slot();
	if (!s) {
		unlock_if(locked);
		return fail(EMFILE, "sample iterator: %d registrations already", MAX_SAMPLED);
	}
	s->kind = SAMPLED_ITER;
	sampled_relist();
	s->handle = h;
	snprintf(s->prog, sizeof(s->prog), "%s", prog);
	s->room = room ? room : 16384;
	s->rate = rate_per_s > 0 ? rate_per_s : 0;
	s->min_ns = (uint64_t)min_interval_us * 1000;
	s->last_ns = in_step_with(s, s->min_ns);
	ret = (int)(s - sampled);
	unlock_if(locked);
	return ret;
}

HOSA_API int hosa_sampler_iter_watch(int reg, const double *ids, uint32_t n)
{
	uint64_t *copy = NULL;
	bool locked;

	if (reg < 0 || reg >= MAX_SAMPLED)
		return fail(EINVAL, "iterator tripwire: no registration %d", reg);
	if (ids) {
		copy = malloc((size_t)(n ? n : 1) * 8);
		if (!copy)
			return fail(ENOMEM, "iterator tripwire: %u ids", n);
		for (uint32_t i = 0; i < n; i++)
			copy[i] = (uint64_t)ids[i];
		qsort(copy, n, 8, cmp_u64);
	}
	lock_if_sampling(&locked);
	if (sampled[reg].kind != SAMPLED_ITER) {
		unlock_if(locked);
		free(copy);
		return fail(EINVAL, "iterator tripwire: registration %d is not an iterator's", reg);
	}
	free(sampled[reg].trip_ids);
	sampled[reg].trip_ids = copy;
	sampled[reg].trip_n = (int)n;
	unlock_if(locked);
	return 0;
}

HOSA_API int hosa_sampler_remove(int reg)
{
	bool locked;

	if (reg < 0 || reg >= MAX_SAMPLED)
		return fail(EINVAL, "stop sampling: no registration %d", reg);
	lock_if_sampling(&locked);
	sampled_free(&sampled[reg]);
	unlock_if(locked);
	return 0;
}

/* The snapshot being served, if it holds what the caller asks for. */
static struct snap_entry *served(int kind, int handle, uint32_t opened, const char *prog, int map_fd, const void *key,
				 uint32_t words)
{
	struct snapshot *sn;
	int i;

	if (serving < 0)
		return NULL;
	sn = &ring[serving];
	for (i = 0; i < sn->nent; i++) {
		struct snap_entry *e = &sn->ents[i];
		if (e->kind != kind || (kind != SAMPLED_PERCPU && e->handle != handle))
			continue;
		if (kind == SAMPLED_READSET && e->opened == opened)
			return e;
		if (kind == SAMPLED_ITER && strcmp(e->prog, prog) == 0)
			return e->truncated ? NULL : e;
		if (kind == SAMPLED_PERCPU && e->map_fd == map_fd && e->words == words &&
		    memcmp(e->key, key, e->key_size) == 0)
			return e;
	}
	return NULL;
}

/* hosa_readset_read from the snapshot; -1 when it cannot serve this read (then a live one). */
static int serve_readset(int r, struct readset *rs, void *buf, const uint32_t *offsets, const uint32_t *caps,
			 int32_t *lens)
{
	struct snap_entry *e = served(SAMPLED_READSET, r, readset_opened[r], NULL, -1, NULL, 0);
	const uint32_t *scaps;
	const int32_t *slens;
	const unsigned char *bytes;
	int i;

	if (!e || e->n != rs->n)
		return -1;
	scaps = (const uint32_t *)(ring[serving].arena + e->off);
	slens = (const int32_t *)(scaps + e->n);
	/* A file that filled the thread's room may be longer than the caller's room now holds. */
	for (i = 0; i < e->n; i++)
		if (slens[i] >= 0 && (uint32_t)slens[i] >= scaps[i] && caps[i] > scaps[i])
			return -1;
	bytes = (const unsigned char *)(slens + e->n);
	for (i = 0; i < e->n; i++) {
		int32_t n = slens[i];
		if (n < 0) {
			lens[i] = n;
			continue;
		}
		lens[i] = (uint32_t)n > caps[i] ? (int32_t)caps[i] : n;
		memcpy((char *)buf + offsets[i], bytes, (size_t)lens[i]);
		bytes += n;
	}
	return rs->n;
}

static int serve_percpu(int fd, const void *key, uint64_t *out, uint32_t words)
{
	struct snap_entry *e = served(SAMPLED_PERCPU, -1, 0, NULL, fd, key, words);

	if (!e)
		return -1;
	memcpy(out, ring[serving].arena + e->off, (size_t)words * 8);
	return 0;
}

static int serve_iter(int h, const char *prog, void *buf, size_t len)
{
	struct snap_entry *e = served(SAMPLED_ITER, h, 0, prog, -1, NULL, 0);
	size_t n;

	if (!e)
		return -1;
	/* A pass that fills the caller's buffer reads as such: the caller grows it and asks again. */
	n = e->len < len ? e->len : len;
	memcpy(buf, ring[serving].arena + e->off, n);
	return (int)n;
}

HOSA_API int hosa_sampler_gate(int r, const char *dirs, uint32_t len, const double *links_seen)
{
	struct sampled *s = NULL;
	char *copy = NULL;
	int64_t *links = NULL;
	int i, n = 0;
	bool locked;

	for (i = 0; i < (int)len; i++)
		if (dirs[i] == '\0')
			n++;
	if (len > 0 && dirs[len - 1] != '\0')
		return fail(EINVAL, "gate read set %d: the directories must end with a NUL", r);
	if (n > 0) {
		copy = malloc(len);
		links = malloc((size_t)n * sizeof(*links));
		if (!copy || !links) {
			free(copy);
			free(links);
			return fail(ENOMEM, "gate read set %d", r);
		}
		memcpy(copy, dirs, len);
		for (i = 0; i < n; i++)
			links[i] = (int64_t)links_seen[i];
	}
	lock_if_sampling(&locked);
	for (i = 0; i < MAX_SAMPLED; i++)
		if (sampled[i].kind == SAMPLED_READSET && sampled[i].handle == r && sampled[i].rate < 0)
			s = &sampled[i];
	if (!s) {
		unlock_if(locked);
		free(copy);
		free(links);
		return fail(ENOENT, "gate read set %d: not sampled with a change-wake", r);
	}
	free(s->gate);
	free(s->gate_links);
	s->gate = copy;
	s->gate_links = links;
	s->ngate = n;
	unlock_if(locked);
	return 0;
}

HOSA_API int hosa_sampler_holds(int r)
{
	if (serving < 0)
		return -1;
	return r >= 0 && r < MAX_READSETS && served(SAMPLED_READSET, r, readset_opened[r], NULL, -1, NULL, 0) ? 1 : 0;
}

/* libhosa: see hosa.h. libbpf (static, PIC) does the loading; the ring buffer
 * reader is our own so that a record that does not fit the caller's buffer
 * stays in the ring (libbpf's consumer drops a record its callback refuses). */
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
	return r;
}

HOSA_API int hosa_readset_add(int r, const char *path)
{
	struct readset *rs = get_readset(r);
	int fd;

	if (!rs)
		return fail(EBADF, "add %s to read set: no such set %d", path, r);
	if (rs->n == MAX_READSET_FILES)
		return fail(EMFILE, "add %s to read set: %d files already", path, MAX_READSET_FILES);
	if (rs->n == rs->cap) {
		int cap = rs->cap ? rs->cap * 2 : 16;
		int *fds = realloc(rs->fds, (size_t)cap * sizeof(*fds));

		if (!fds)
			return fail(ENOMEM, "add %s to read set: no memory for %d files", path, cap);
		rs->fds = fds;
		rs->cap = cap;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(errno, "open %s", path);
	rs->fds[rs->n] = fd;
	return rs->n++;
}

HOSA_API int hosa_readset_read(int r, void *buf, const uint32_t *offsets, const uint32_t *caps,
			       int32_t *lens)
{
	struct readset *rs = get_readset(r);
	int i;

	if (!rs)
		return fail(EBADF, "read read set: no such set %d", r);
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
	return rs->n;
}

HOSA_API int hosa_readset_close(int r)
{
	struct readset *rs = get_readset(r);
	int i;

	if (!rs)
		return fail(EBADF, "close read set: no such set %d", r);
	for (i = 0; i < rs->n; i++)
		close(rs->fds[i]);
	free(rs->fds);
	memset(rs, 0, sizeof(*rs));
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
	int i;

	if (!o)
		return fail(EBADF, "close: no such object handle %d", h);
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
